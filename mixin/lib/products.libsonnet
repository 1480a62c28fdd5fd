// Each product's poll actions, read from their one declaration (src/zenlayer/declaration.rs: a `product:` line,
// then its `statuses:` and `metadata_action:` lines), so the staleness alerts select each product's own status
// poll: VM's and ZEC's DescribeInstancesStatus, bare metal's DescribeInstances (it has no status-only action).
local source = importstr '../../src/zenlayer/declaration.rs';
local lines = [std.stripChars(l, ' ,') for l in std.split(source, '\n')];
local value(line, key) = std.stripChars(std.substr(line, std.length(key), std.length(line)), ' ');
// DESCRIBE_INSTANCES_STATUS -> DescribeInstancesStatus, as model.rs spells the action.
local action(constant) = std.join('', [
  std.asciiUpper(w[0]) + std.asciiLower(std.substr(w, 1, std.length(w)))
  for w in std.split(constant, '_')
]);
local starts = [i for i in std.range(0, std.length(lines) - 1) if std.startsWith(lines[i], 'product: Product::')];
local declared = [
  local block = lines[starts[n]:(if n + 1 < std.length(starts) then starts[n + 1] else std.length(lines))];
  local one(key) = [value(l, key) for l in block if std.startsWith(l, key)][0];
  local statuses = one('statuses: Statuses::');
  local metadata = action(one('metadata_action: '));
  {
    product: std.asciiLower(value(lines[starts[n]], 'product: Product::')),
    status: if statuses == 'InRows' then metadata else action(std.stripChars(std.substr(statuses, 7, std.length(statuses)), '()')),
    // Its metadata has a poll of its own, or comes with the statuses.
    metadataPoll: statuses != 'InRows',
    metadata: metadata,
  }
  for n in std.range(0, std.length(starts) - 1)
];
{
  all: declared,
  // The status polls as (action, products) groups: `action="A",product=~"p|q"` selects them.
  statusPolls: [
    { action: a, products: [d.product for d in declared if d.status == a] }
    for a in std.set([d.status for d in declared])
  ],
  // The products whose metadata has a poll of its own.
  metadataPolled: [d.product for d in declared if d.metadataPoll],
}
