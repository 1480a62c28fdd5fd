// Bare metal's hardware health and maintenance vocabulary, read from its one declaration
// (src/zenlayer/operations.rs: the `pub const NAME: &str = "..."` actions, the `Health` values, the COMPONENTS
// with the values each documents, the SENSORS), so the alerts, their tests and the dashboard name the
// components, values and actions the exporter serves. A name this reads that is gone from the file fails the
// rendering rather than selecting nothing. (std.split only, as statuses.libsonnet: see there.)
local source = importstr '../../src/zenlayer/operations.rs';
local lines = [std.stripChars(l, ' ') for l in std.split(source, '\n')];
local quoted(line) = std.split(line, '"')[1];
local after(line, prefix) = std.substr(line, std.length(prefix), std.length(line));
// The lines from the first that starts with `opening` to the next `closing` line.
local block(opening, closing) =
  local from = [i for i in std.range(0, std.length(lines) - 1) if std.startsWith(lines[i], opening)][0];
  local to = [i for i in std.range(from, std.length(lines) - 1) if lines[i] == closing][0];
  lines[from:to];

// `pub const DESCRIBE_MAINTENANCE_ALERTS: &str = "DescribeMaintenanceAlerts";` -> { DESCRIBE_...: 'Describe...' }
local constants = {
  [std.split(after(l, 'pub const '), ':')[0]]: quoted(l)
  for l in lines
  if std.startsWith(l, 'pub const ') && std.length(std.split(l, ': &str = "')) == 2
};
// The `Health` variants in their declared order: `Ok = "OK",` -> ['Ok', 'OK'].
local declaredHealth = [
  [std.split(l, ' = ')[0], quoted(l)]
  for l in block('pub enum Health {', '}')
  if std.length(std.split(l, ' = "')) == 2
];
local health = { [h[0]]: h[1] for h in declaredHealth };
// Values that are no alarm: working, and not collected.
local quiet = [health.Ok, health.Unknown];
// `Health::Ok, Health::Warning` -> ['OK', 'WARNING'].
local spelled(list) = [health[std.stripChars(after(std.stripChars(v, ' '), 'Health::'), ' ')] for v in std.split(list, ',')];
// The named value lists: `const ALARM: &[Health] = &[Health::Ok, ...];` -> { ALARM: ['OK', ...] }.
local lists = {
  [std.split(after(l, 'const '), ':')[0]]: spelled(std.stripChars(std.split(l, '= &[')[1], '];'))
  for l in lines
  if std.startsWith(l, 'const ') && std.length(std.split(l, ': &[Health] = &[')) == 2
};
// A component's `values:` line: a named list, or one written out.
local values(line) =
  local v = std.stripChars(after(line, 'values: '), ',');
  if std.startsWith(v, '&[') then spelled(std.stripChars(v, '&[],')) else lists[v];
local names(lines) = [quoted(l) for l in lines if std.startsWith(l, 'name: "')];
local components =
  local declared = block('pub const COMPONENTS', '];');
  local n = names(declared);
  local v = [values(l) for l in declared if std.startsWith(l, 'values: ')];
  assert std.length(n) == std.length(v) : 'operations.rs: a component without its values';
  [
    // `alarms`: its documented values that are an alarm.
    { name: n[i], values: v[i], alarms: [x for x in v[i] if !std.member(quiet, x)] }
    for i in std.range(0, std.length(n) - 1)
  ];

{
  quiet: quiet,
  // Every documented value, in the declared order.
  health: [h[1] for h in declaredHealth],
  // The documented values that are an alarm.
  alarms: [h[1] for h in declaredHealth if !std.member(quiet, h[1])],
  // Each component: its name, the values it documents (a state set's series) and those that are an alarm.
  components: components,
  sensors: names(block('pub const SENSORS', '];')),
  // Each `pub const` string of the file by its name, the actions among them: `constants.DESCRIBE_MAINTENANCE_ALERTS`.
  constants: constants,
}
