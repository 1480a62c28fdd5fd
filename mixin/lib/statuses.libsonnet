// The instance statuses, read from their one declaration (src/status/vocabulary.rs, the `statuses!` lines
// `Variant = "SPELLING", kind;`), so the rules and the dashboard cannot disagree with the exporter.
// (std.split only: std.findSubstr takes seconds on a file of this size in jsonnet 0.18.)
local source = importstr '../../src/status/vocabulary.rs';
local words = [
  std.split(std.stripChars(line, ' ;'), ' ')  // ["Variant", "=", "\"SPELLING\",", "kind"]
  for line in std.split(source, '\n')
  if std.endsWith(line, ', transitional;') || std.endsWith(line, ', steady;')
];
local statuses = [
  { name: std.stripChars(w[2], '",'), transitional: w[3] == 'transitional' }
  for w in words
  if std.length(w) == 4 && w[1] == '='
];
{
  known: [s.name for s in statuses],
  transitional: [s.name for s in statuses if s.transitional],
}
