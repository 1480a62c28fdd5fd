// Each product's poll actions, read from their one declaration (src/zenlayer/declaration.rs: a `product:` line,
// then its `statuses:`, `metadata_action:`, `health_action:` and `maintenance:` lines), so the staleness alerts
// select each product's own polls: VM's and ZEC's DescribeInstancesStatus, bare metal's DescribeInstances (it has
// no status-only action), and the hardware health and maintenance polls of the products that have them (their
// actions as operations.rs spells them, through hardware.libsonnet).
local hardware = import 'hardware.libsonnet';
local source = importstr '../../src/zenlayer/declaration.rs';
local lines = [std.stripChars(l, ' ,') for l in std.split(source, '\n')];
local value(line, key) = std.stripChars(std.substr(line, std.length(key), std.length(line)), ' ');
// DESCRIBE_INSTANCES_STATUS -> DescribeInstancesStatus, as model.rs spells the action.
local action(constant) = std.join('', [
  std.asciiUpper(w[0]) + std.asciiLower(std.substr(w, 1, std.length(w)))
  for w in std.split(constant, '_')
]);
// `Some(X)` -> X, `None` -> null.
local some(v) = if v == 'None' then null else std.stripChars(std.substr(v, 4, std.length(v)), '()');
local starts = [i for i in std.range(0, std.length(lines) - 1) if std.startsWith(lines[i], 'product: Product::')];
local declared = [
  local block = lines[starts[n]:(if n + 1 < std.length(starts) then starts[n + 1] else std.length(lines))];
  local one(key) = [value(l, key) for l in block if std.startsWith(l, key)][0];
  local statuses = one('statuses: Statuses::');
  local metadata = action(one('metadata_action: '));
  local health = some(one('health_action: '));
  {
    product: std.asciiLower(value(lines[starts[n]], 'product: Product::')),
    status: if statuses == 'InRows' then metadata else action(std.stripChars(std.substr(statuses, 7, std.length(statuses)), '()')),
    // Its metadata has a poll of its own, or comes with the statuses.
    metadataPoll: statuses != 'InRows',
    metadata: metadata,
    // Its hardware health action, or null.
    health: if health == null then null else hardware.constants[health],
    // Its planned maintenance poll, or null: the maintenance service's one action, asked for its feed.
    maintenance: if some(one('maintenance: ')) == null then null else hardware.constants.DESCRIBE_MAINTENANCE_ALERTS,
  }
  for n in std.range(0, std.length(starts) - 1)
];
// The polls whose action `of(declared product)` gives, as (action, products) groups; null is no such poll.
local polls(of) = [
  { action: a, products: [d.product for d in declared if of(d) == a] }
  for a in std.set([of(d) for d in declared if of(d) != null])
];
{
  all: declared,
  // Each kind of poll as (action, products) groups: `selector(poll)` selects one's series.
  statusPolls: polls(function(d) d.status),
  // The products whose metadata has a poll of its own.
  metadataPolls: polls(function(d) if d.metadataPoll then d.metadata else null),
  healthPolls: polls(function(d) d.health),
  maintenancePolls: polls(function(d) d.maintenance),
  selector(poll):: 'action="%s",product=~"%s"' % [poll.action, std.join('|', poll.products)],
}
