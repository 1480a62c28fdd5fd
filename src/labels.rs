//! Words from small fixed sets (label values, modes), each declared once as an enum: its `ALL` puts every series
//! in place at zero, its `as_str` is the value written and the word read, so a typo is a compile error and a new
//! value needs no second list.

/// A fixed set of words, as [`label_values!`] declares it: what a setting's parser and its
/// message read.
pub trait Word: Copy + PartialEq + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    /// Its place in `ALL`: what a table of counters, one per word, is indexed by.
    fn index(self) -> usize {
        Self::ALL.iter().position(|w| *w == self).unwrap_or(0)
    }
}

/// Declares `enum $name { $variant = "value", ... }` with `ALL`, `as_str`, `Display` (the value) and
/// `Deserialize` (from the value, exactly).
macro_rules! label_values {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }
        }

        impl $crate::labels::Word for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(d)?;
                $name::ALL
                    .iter()
                    .copied()
                    .find(|word| word.as_str() == text)
                    .ok_or_else(|| <D::Error as ::serde::de::Error>::unknown_variant(&text, &[$($value,)+]))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
// Reached by path (`crate::labels::label_values!`), so every use names this file, as any other import does.
pub(crate) use label_values;

#[cfg(test)]
mod tests {
    crate::labels::label_values! {
        /// A test set.
        enum Colour {
            Red = "red",
            /// Documented.
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn values_are_declared_once() {
        assert_eq!(Colour::ALL, [Colour::Red, Colour::DarkBlue]);
        assert_eq!(Colour::DarkBlue.as_str(), "dark_blue");
        assert_eq!(Colour::Red.to_string(), "red");
    }
}
