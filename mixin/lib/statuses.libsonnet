// The instance statuses, read from their one declaration (src/zenlayer/vocabulary.rs, the `statuses!` lines
// `Variant = "SPELLING", kind, Vm Zec Bmc;`: its kind and the products whose vocabulary has it), so the rules
// and the dashboard cannot disagree with the exporter. A status's kind is the same in every product that has it,
// so a set over every product (`transitional`, `failed`) selects the same series as one per product.
// (std.split only: std.findSubstr takes seconds on a file of this size in jsonnet 0.18.)
local source = importstr '../../src/zenlayer/vocabulary.rs';
local kinds = ['transitional', 'steady', 'failed'];
local words = [
  std.split(std.stripChars(line, ' ;'), ' ')  // ["Variant", "=", "\"SPELLING\",", "kind,", "Vm", ...]
  for line in std.split(source, '\n')
  if std.length([k for k in kinds if std.length(std.split(line, ', ' + k + ', ')) == 2]) == 1
];
local statuses = [
  {
    name: std.stripChars(w[2], '",'),
    kind: std.stripChars(w[3], ','),
    products: [std.asciiLower(p) for p in w[4:]],
  }
  for w in words
  if std.length(w) >= 5 && w[1] == '='
];
local of(kind) = [s.name for s in statuses if s.kind == kind];
{
  known: [s.name for s in statuses],
  transitional: of('transitional'),
  // An operation failed (creation, installing the system) and the instance stays so until someone acts.
  failed: of('failed'),
  // Each product's vocabulary: the statuses it documents.
  products: {
    [p]: [s.name for s in statuses if std.member(s.products, p)]
    for p in std.set(std.flattenArrays([s.products for s in statuses]))
  },
}
