// The "Zenlayer fleet" dashboard: the fleet by status, zone and billing, the instances that need a look, and the
// exporter's own health. Every query selects `job=~"$job"`, `instance=~"$instance"` (the exporter target) and
// each of `_config.groupLabels`; the job variable offers the jobs `_config.selector` matches. A `=~".*"` (All)
// also matches series without the label, so `account` works with and without an accounts file.
local hardware = import '../lib/hardware.libsonnet';
local products = import '../lib/products.libsonnet';
local statuses = import '../lib/statuses.libsonnet';

{
  local c = $._config,
  local ds = { type: 'prometheus', uid: '${datasource}' },
  local variables = ['job', 'instance'] + c.groupLabels,
  local sel = std.join(',', ['%s=~"$%s"' % [v, v] for v in variables]),
  local key = std.join(', ', ['job', 'instance'] + c.groupLabels + ['instance_id']),
  local info = 'zenlayer_instance_info{%s,zone_id=~"$zone"}' % sel,
  local known = std.join('|', statuses.known),
  local transitional = std.join('|', statuses.transitional),
  local failed = std.join('|', statuses.failed),
  local colors = {
    RUNNING: 'green',
    STOPPED: 'red',
    RECYCLE: 'purple',
    RELEASING: 'purple',
    RECYCLING: 'purple',
  } + { [s]: 'dark-red' for s in statuses.failed },
  local nameLegend = '{{instance_name}} {{zone_id}} {{instance_id}}',

  // `expr` with the `labels` of the series of `info` it matches `on`; the series `known` does not match are
  // kept without them.
  local joined(expr, on, labels, info, known) =
    '(%(e)s) * on (%(k)s) group_left (%(l)s) %(info)s\nor on (%(k)s) ((%(e)s) unless on (%(k)s) %(known)s)'
    % { e: expr, k: on, l: labels, info: info, known: known },
  // `expr` (per instance) with each instance's name and zone, filtered by the zone variable; instances the
  // metadata does not know (metadata off, or created since the last metadata poll) are kept, unnamed.
  local named(expr) = joined(expr, key, 'instance_name, zone_id', info, 'zenlayer_instance_info{%s}' % sel),
  // `expr` (per maintenance window) with its location and impact, and named.
  local windowed(expr) =
    local windowInfo = 'zenlayer_maintenance_info{%s}' % sel;
    named(joined(expr, key + ', status', 'location, impact', windowInfo, windowInfo)),
  // A health value that is an alarm: what ZenlayerHardwareUnhealthy warns about. The documented alarms' colours;
  // any other orange.
  local alarm = 'health!~"%s"' % std.join('|', hardware.quiet),
  local alarmColor(h) = std.get({ WARNING: 'orange', CRITICAL: 'red' }, h, 'orange'),

  local target(expr, legend='', instant=false, format='time_series', ref='A') = {
    datasource: ds,
    expr: expr,
    refId: ref,
    legendFormat: legend,
    range: !instant,
    instant: instant,
  } + (if format != 'time_series' then { format: format } else {}),

  local row(title, y) = {
    type: 'row',
    title: title,
    collapsed: false,
    gridPos: { h: 1, w: 24, x: 0, y: y },
    panels: [],
  },
  local panel(kind, title, description, targets, x, y, w, h, unit, extra={}) = {
    type: kind,
    title: title,
    description: description,
    datasource: ds,
    gridPos: { h: h, w: w, x: x, y: y },
    targets: targets,
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
  } + extra,
  local stat(title, description, expr, x, y, steps, unit='none', mappings=[]) = panel(
    'stat', title, description, [target(expr, instant=true)], x, y, 4, 4, unit, {
      fieldConfig+: { defaults+: { mappings: mappings, thresholds: { mode: 'absolute', steps: steps } } },
      options: {
        colorMode: 'background',
        graphMode: 'area',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        textMode: 'value',
        justifyMode: 'center',
        orientation: 'auto',
      },
    }
  ),
  local green = [{ color: 'green', value: null }],
  local redIfAny = [{ color: 'green', value: null }, { color: 'red', value: 1 }],
  local amberIfAny = [{ color: 'green', value: null }, { color: 'orange', value: 1 }],
  local stacked = {
    fieldConfig+: { defaults+: { custom: { stacking: { mode: 'normal', group: 'A' }, fillOpacity: 30, lineWidth: 1 }, min: 0 } },
    options: {
      legend: { displayMode: 'table', placement: 'right', calcs: ['lastNotNull'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },
  local minZero = { fieldConfig+: { defaults+: { min: 0 } } },
  local organize(exclude, rename, order={}) = {
    id: 'organize',
    options: { excludeByName: exclude, renameByName: rename } + (if order != {} then { indexByName: order } else {}),
  },
  local sortBy(field, desc) = { id: 'sortBy', options: { sort: [{ field: field, desc: desc }] } },
  local hidden = { Time: true, __name__: true, job: true, instance: true },
  // Time since the last successful poll of `polls` (products.libsonnet), the oldest over the selection.
  local pollAge(title, description, polls, x, y, steps) = stat(
    title, description,
    'max(' + std.join(' or ', [
      'time() - zenlayer_exporter_last_poll_success_timestamp_seconds{%s,%s}' % [sel, products.selector(poll)]
      for poll in polls
    ]) + ')', x, y, steps, unit='s'
  ),

  local codes = { [statuses.known[i]]: i + 1 for i in std.range(0, std.length(statuses.known) - 1) },
  local codeExpr = 'max by (%s) (\n' % key + std.join('\n  or ', [
    'zenlayer_instance_status{%s,instance_id=~"$instance_id",status="%s"} * %d' % [sel, s, codes[s]]
    for s in statuses.known
  ]) + '\n  or zenlayer_instance_status{%s,instance_id=~"$instance_id",status!~"%s"} * 99\n)' % [sel, known],

  local B = 52,
  local H = B + 25,
  local panels = [
    row('Fleet', 0),
    stat('Instances', 'Every instance the API lists.', 'sum(zenlayer_instances{%s})' % sel, 0, 1, [{ color: 'blue', value: null }]),
    stat('RUNNING', 'Instances whose status is RUNNING.', 'sum(zenlayer_instances{%s,status="RUNNING"})' % sel, 4, 1, green),
    stat('STOPPED', 'Instances whose status is STOPPED: each one pages after %s (ZenlayerInstanceStopped).' % c.stoppedFor,
         'sum(zenlayer_instances{%s,status="STOPPED"})' % sel, 8, 1, redIfAny),
    stat('In transition', 'Instances in a transitional status (%s).' % std.join(', ', statuses.transitional),
         'sum(zenlayer_instances{%s,status=~"%s"})' % [sel, transitional], 12, 1, amberIfAny),
    stat('Failed', 'Instances whose creation or system install failed (%s): they never start by themselves.' % std.join(', ', statuses.failed),
         'sum(zenlayer_instances{%s,status=~"%s"})' % [sel, failed], 16, 1, redIfAny),
    stat('Other statuses', 'Instances in a status this exporter does not know: the API added one. They are exported as sent.',
         'sum(zenlayer_instances{%s,status!~"%s"}) or vector(0)' % [sel, known], 20, 1, amberIfAny),
    panel('timeseries', 'Fleet by status', 'How many instances are in each status over time (filtered by the status variable).',
          [target('sum by (status) (zenlayer_instances{%s,status=~"$status"})' % sel, '{{status}}')], 0, 5, 16, 8, 'none', stacked {
      fieldConfig+: { overrides: [
        { matcher: { id: 'byName', options: s }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: colors[s] } }] }
        for s in std.objectFields(colors)
      ] },
    }),

    panel('bargauge', 'Fleet by product', 'How many instances each product (VM, ZEC, bare metal) holds now, in the statuses of the status variable.',
          [target('sum by (product) (zenlayer_instances{%s,status=~"$status"})' % sel, '{{product}}', instant=true)], 16, 5, 8, 8, 'none', {
      options: {
        displayMode: 'basic',
        orientation: 'horizontal',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        showUnfilled: true,
      },
    }),

    row('Instances', 13),
    panel('table', 'STOPPED and failed instances',
          'Instances now STOPPED or failed (%s), and how long they have been so (since Prometheus saw them enter that status; needs the recording rules of the mixin).' % std.join(', ', statuses.failed),
          [target(named('time() - zenlayer:instance_status:first_seen_timestamp{%s,status=~"STOPPED|%s",instance_id=~"$instance_id"}' % [sel, failed]),
                  instant=true, format='table')], 0, 14, 12, 9, 's', {
      fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'Value' }, properties: [{ id: 'displayName', value: 'In status for' }] }] },
      transformations: [
        organize(hidden, { instance_name: 'Name', zone_id: 'Zone', instance_id: 'Instance', status: 'Status' },
                 { instance_name: 0, zone_id: 1, instance_id: 2, status: 3, Value: 4 }),
        sortBy('In status for', true),
      ],
      options: { showHeader: true },
    }),
    panel('bargauge', 'Uptime ratio per instance', "Share of the dashboard's time range each instance was RUNNING, worst first.",
          [target('sort(' + named('avg_over_time(zenlayer_instance_running{%s,instance_id=~"$instance_id"}[$__range])' % sel) + ')', nameLegend, instant=true)],
          12, 14, 12, 9, 'percentunit', {
      fieldConfig+: { defaults+: {
        min: 0,
        max: 1,
        thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'orange', value: 0.95 }, { color: 'green', value: 0.999 }] },
      } },
      options: {
        displayMode: 'gradient',
        orientation: 'horizontal',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        showUnfilled: true,
      },
    }),
    panel('state-timeline', 'Status timeline', "Each instance's status over time (use the instance id variable to focus on a few).",
          [target(named(codeExpr), nameLegend)], 0, 23, 24, 12, 'none', {
      fieldConfig+: { defaults+: {
        custom: { fillOpacity: 80, lineWidth: 0 },
        mappings: [{ type: 'value', options: {
          [std.toString(codes[s])]: { text: s, color: std.get(colors, s, 'orange'), index: codes[s] }
          for s in statuses.known
        } + { '99': { text: 'OTHER', color: 'orange', index: 99 } } }],
        thresholds: { mode: 'absolute', steps: [{ color: 'orange', value: null }] },
        color: { mode: 'thresholds' },
      } },
      options: { showValue: 'never', mergeValues: true, rowHeight: 0.9, legend: { showLegend: true, displayMode: 'list', placement: 'bottom' } },
    }),

    row('Zones and billing', 35),
    panel('timeseries', 'RUNNING instances by zone', 'RUNNING instances in each zone over time (zone from the metadata poll; filtered by the zone variable).',
          [target('sum by (zone_id) (zenlayer_instance_running{%s} * on (%s) group_left (zone_id) %s)' % [sel, key, info], '{{zone_id}}')],
          0, 36, 12, 8, 'none', stacked),
    panel('table', 'Instances by zone and status', 'How many instances each zone has in each status now.',
          [target('sum by (zone_id, status) ((zenlayer_instance_status{%s} == 1) * on (%s) group_left (zone_id) %s)' % [sel, key, info],
                  instant=true, format='table')], 12, 36, 12, 8, 'none', {
      transformations: [organize({ Time: true }, { zone_id: 'Zone', status: 'Status', Value: 'Instances' }), sortBy('Instances', true)],
      options: { showHeader: true },
    }),
    panel('table', 'Prepaid instances expiring within 30 days without auto-renewal',
          'Prepaid instances that will not renew themselves, and the time left: under %d days, ZenlayerPrepaidInstanceExpiring warns.' % c.expiringWithinDays,
          [target('(\n  (zenlayer_instance_expiry_timestamp_seconds{%(sel)s} - time() < 30 * 86400)\n  and on (%(k)s) (zenlayer_instance_auto_renew{%(sel)s} == 0)\n) * on (%(k)s) group_left (instance_name, zone_id) %(info)s'
                  % { sel: sel, k: key, info: info }, instant=true, format='table')], 0, 44, 24, 8, 's', {
      fieldConfig+: {
        defaults+: {
          thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'orange', value: 7 * 86400 }, { color: 'green', value: 14 * 86400 }] },
          custom: { cellOptions: { type: 'color-text' } },
        },
        overrides: [{ matcher: { id: 'byName', options: 'Value' }, properties: [{ id: 'displayName', value: 'Expires in' }] }],
      },
      transformations: [
        organize(hidden, { instance_name: 'Name', zone_id: 'Zone', instance_id: 'Instance' }, { instance_name: 0, zone_id: 1, instance_id: 2, Value: 3 }),
        sortBy('Expires in', false),
      ],
      options: { showHeader: true },
    }),

    row('Bare metal', B),
    panel('table', 'Hardware health by component',
          "How many bare-metal servers report each health for each component (Zenlayer's hardware monitoring): UNKNOWN is not collected; WARNING, CRITICAL (ipmi_ping only) and any value the API added are alarms, in colour.",
          [target('count by (component, health) (zenlayer_instance_component_health{%s} == 1)' % sel, instant=true, format='table')],
          0, B + 1, 8, 8, 'none', {
      fieldConfig+: { overrides: [
        {
          matcher: { id: 'byName', options: h },
          properties: [
            { id: 'custom.cellOptions', value: { type: 'color-background' } },
            { id: 'thresholds', value: { mode: 'absolute', steps: [{ color: 'transparent', value: null }, { color: alarmColor(h), value: 1 }] } },
          ],
        }
        for h in hardware.alarms
      ] },
      transformations: [
        { id: 'groupingToMatrix', options: { columnField: 'health', rowField: 'component', valueField: 'Value', emptyValue: 'zero' } },
        organize({}, { 'component\\health': 'Component' }),
      ],
      options: { showHeader: true },
    }),
    panel('table', 'Servers not OK',
          'Each component of each server in alarm (WARNING; CRITICAL for ipmi_ping; or a value the API added): ZenlayerHardwareUnhealthy warns after %s. UNKNOWN (not collected) is counted beside, not listed.' % c.hardwareUnhealthyFor,
          [target(named('zenlayer_instance_component_health{%s,instance_id=~"$instance_id",%s} == 1' % [sel, alarm]), instant=true, format='table')],
          8, B + 1, 16, 8, 'none', {
      fieldConfig+: { overrides: [{
        matcher: { id: 'byName', options: 'Health' },
        properties: [
          { id: 'custom.cellOptions', value: { type: 'color-text' } },
          { id: 'mappings', value: [{ type: 'value', options: {
            [hardware.alarms[i]]: { color: alarmColor(hardware.alarms[i]), index: i }
            for i in std.range(0, std.length(hardware.alarms) - 1)
          } }] },
        ],
      }] },
      transformations: [
        organize(hidden { Value: true }, { instance_name: 'Name', zone_id: 'Zone', instance_id: 'Server', component: 'Component', health: 'Health' },
                 { instance_name: 0, zone_id: 1, instance_id: 2, component: 3, health: 4 }),
        sortBy('Name', false),
      ],
      options: { showHeader: true },
    }),
    panel('timeseries', 'Hottest servers',
          'The 10 servers with the highest reading over their sensors (CPU, each socket, inlet), in °C. ZenlayerTemperatureHigh warns past %s °C%s.' % [
            c.temperatureHighCelsius,
            std.join('', ['; %s past %s °C' % [s, c.temperatureHighCelsiusBySensor[s]] for s in std.objectFields(c.temperatureHighCelsiusBySensor)]),
          ],
          [target('topk(10, %s)' % named('max by (%s) (zenlayer_instance_temperature_celsius{%s,instance_id=~"$instance_id"})' % [key, sel]), nameLegend)],
          0, B + 9, 24, 8, 'celsius', {
      fieldConfig+: { defaults+: {
        min: 0,
        custom: { thresholdsStyle: { mode: 'line' } },
        thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'red', value: c.temperatureHighCelsius }] },
      } },
      options: {
        legend: { displayMode: 'table', placement: 'right', calcs: ['max', 'lastNotNull'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    }),
    panel('table', 'Planned maintenance',
          "Each server's planned maintenance windows as Zenlayer announces them (one per server and status, the earliest not yet ended), with the location and impact in its words. ZenlayerMaintenanceUpcoming warns %s before a start." % c.maintenanceLeadTime,
          [
            // In milliseconds, as Grafana's date units read them; the merge joins the two on their labels.
            target(windowed('1000 * zenlayer_maintenance_%s_timestamp_seconds{%s,instance_id=~"$instance_id"}' % [edge[0], sel]), instant=true, format='table', ref=edge[1])
            for edge in [['start', 'A'], ['end', 'B']]
          ],
          0, B + 17, 24, 8, 'dateTimeAsIso', {
      transformations: [
        { id: 'merge', options: {} },
        organize(hidden, {
          instance_name: 'Name',
          zone_id: 'Zone',
          instance_id: 'Server',
          status: 'Status',
          'Value #A': 'Start',
          'Value #B': 'End',
          location: 'Location',
          impact: 'Impact',
        }, { instance_name: 0, zone_id: 1, instance_id: 2, status: 3, 'Value #A': 4, 'Value #B': 5, location: 6, impact: 7 }),
        sortBy('Start', false),
      ],
      options: { showHeader: true },
    }),

    row('Exporter health', H),
    stat('Last poll', "Whether the exporter's last poll of the Zenlayer API succeeded (zenlayer_up).", 'min(zenlayer_up{%s})' % sel, 0, H + 1,
         [{ color: 'red', value: null }, { color: 'green', value: 1 }],
         mappings=[{ type: 'value', options: { '0': { text: 'FAILING', index: 0 }, '1': { text: 'OK', index: 1 } } }]),
    pollAge('Data age', 'Time since the last successful status poll: the staleness alert fires past %d minutes.' % (c.dataStaleSeconds / 60),
            products.statusPolls, 4, H + 1, [{ color: 'green', value: null }, { color: 'orange', value: 120 }, { color: 'red', value: c.dataStaleSeconds }]),
    stat('Throttled calls', 'Share of API calls throttled over the last 15 minutes (ZenlayerApiThrottled past %d%%).' % (c.throttledShare * 100),
         'sum(rate(zenlayer_exporter_api_request_failures_total{%s,reason="throttled"}[15m])) / sum(rate(zenlayer_exporter_api_requests_total{%s}[15m]))' % [sel, sel],
         8, H + 1, [{ color: 'green', value: null }, { color: 'orange', value: 0.05 }, { color: 'red', value: c.throttledShare }], unit='percentunit'),
    pollAge('Metadata age', 'Time since the last successful metadata poll (DescribeInstances): names, zones, tags and expiry dates are this old. ZenlayerMetadataStale warns past %d minutes.' % (c.metadataStaleSeconds / 60),
            products.metadataPolls, 0, H + 5, [{ color: 'green', value: null }, { color: 'orange', value: 900 }, { color: 'red', value: c.metadataStaleSeconds }]),
    pollAge('Health age', "Time since the last successful bare-metal hardware health poll: the components' health and temperatures are this old. ZenlayerHardwareHealthStale warns past %d minutes." % (c.hardwareHealthStaleSeconds / 60),
            products.healthPolls, 4, H + 5, [{ color: 'green', value: null }, { color: 'orange', value: 300 }, { color: 'red', value: c.hardwareHealthStaleSeconds }]),
    pollAge('Maintenance age', 'Time since the last successful planned maintenance poll: the windows shown are this old. ZenlayerMaintenanceStale warns past %d minutes.' % (c.maintenanceStaleSeconds / 60),
            products.maintenancePolls, 8, H + 5, [{ color: 'green', value: null }, { color: 'orange', value: 900 }, { color: 'red', value: c.maintenanceStaleSeconds }]),
    panel('timeseries', 'Poll duration', 'How long whole polls take (every page), by action: p50 and p99.', [
      target('histogram_quantile(0.5, sum by (le, action) (rate(zenlayer_exporter_poll_duration_seconds_bucket{%s}[$__rate_interval])))' % sel, 'p50 {{action}}'),
      target('histogram_quantile(0.99, sum by (le, action) (rate(zenlayer_exporter_poll_duration_seconds_bucket{%s}[$__rate_interval])))' % sel, 'p99 {{action}}', ref='B'),
    ], 12, H + 1, 12, 8, 's', minZero),
    panel('timeseries', 'API calls and failures', 'API calls per second by action, and failed calls by reason (each retry counts).', [
      target('sum by (action) (rate(zenlayer_exporter_api_requests_total{%s}[$__rate_interval]))' % sel, 'calls {{action}}'),
      target('sum by (reason) (rate(zenlayer_exporter_api_request_failures_total{%s}[$__rate_interval]))' % sel, 'failed: {{reason}}', ref='B'),
    ], 0, H + 9, 12, 8, 'reqps', minZero),
    panel('timeseries', 'Failed polls by reason', 'Polls that published nothing, by action and reason: the last good snapshot was served meanwhile.', [
      target('sum by (action, reason) (increase(zenlayer_exporter_poll_failures_total{%s}[$__rate_interval]))' % sel, '{{action}} {{reason}}'),
    ], 12, H + 9, 12, 8, 'none', minZero),
    panel('timeseries', 'API latency', 'Latency of single API calls, body included: p50 and p99.', [
      target('histogram_quantile(0.5, sum by (le) (rate(zenlayer_exporter_api_request_duration_seconds_bucket{%s}[$__rate_interval])))' % sel, 'p50'),
      target('histogram_quantile(0.99, sum by (le) (rate(zenlayer_exporter_api_request_duration_seconds_bucket{%s}[$__rate_interval])))' % sel, 'p99', ref='B'),
    ], 0, H + 17, 12, 8, 's', minZero),
  ],

  local variable(name, label, query) = {
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    query: { query: query, refId: '%s-var' % name },
    definition: query,
    refresh: 2,
    sort: 1,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    hide: 0,
    options: [],
    regex: '',
  },
  // Each variable offers the values found under the ones before it.
  local chained(i) = std.join(',', [c.selector] + ['%s=~"$%s"' % [v, v] for v in variables[:i]]),

  grafanaDashboards+:: {
    'zenlayer-fleet.json': {
      title: 'Zenlayer fleet',
      uid: c.dashboardUID,
      description: "Zenlayer Cloud instances (VM, ZEC, bare metal) by status, zone and billing, bare-metal hardware health and planned maintenance, from zenlayer-exporter, and the exporter's own health.",
      tags: c.dashboardTags,
      timezone: '',
      editable: true,
      graphTooltip: 1,
      refresh: '30s',
      schemaVersion: 39,
      version: 1,
      time: { from: 'now-6h', to: 'now' },
      panels: [panels[i] { id: i + 1 } for i in std.range(0, std.length(panels) - 1)],
      templating: { list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          options: [],
          refresh: 1,
          regex: '',
          includeAll: false,
          multi: false,
        },
      ] + [
        variable(variables[i], std.get({ job: 'Exporter job', instance: 'Exporter instance', account: 'Account', product: 'Product' }, variables[i], variables[i]),
                 'label_values(zenlayer_up{%s}, %s)' % [chained(i), variables[i]])
        for i in std.range(0, std.length(variables) - 1)
      ] + [
        variable('status', 'Status', 'label_values(zenlayer_instances{%s}, status)' % sel),
        variable('zone', 'Zone', 'label_values(zenlayer_instance_info{%s}, zone_id)' % sel),
        variable('instance_id', 'Instance id', 'label_values(zenlayer_instance_running{%s}, instance_id)' % sel),
      ] },
      annotations: { list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }] },
      links: [],
    },
  },
}
