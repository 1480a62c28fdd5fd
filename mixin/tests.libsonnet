// promtool unit tests of the rules and alerts, for any `_config`: `target` is the labels the test series carry
// as scraped (they must match `_config.selector`), `absent` the labels absent() gives for the selector (its
// equality matchers). Expected annotations come from the alerts' own sentences (alerts.libsonnet), said with
// each test's values. Series are one sample a minute; `v*N` repeats a value N times.
local mixin = import 'mixin.libsonnet';
local duration = import 'lib/duration.libsonnet';
local hardware = import 'lib/hardware.libsonnet';

function(config={}, target={ job: 'zenlayer-exporter' }, absent={ job: 'zenlayer-exporter' }) {
  local m = mixin { _config+:: config },
  local alerts = { [a.alert]: a for a in m.alertList },
  local DAY = 86400,

  local expand(values) = std.join(' ', std.flattenArrays([
    local star = std.split(part, '*');
    if std.length(star) == 2 then std.makeArray(std.parseInt(star[1]), function(_) star[0]) else [part]
    for part in std.split(values, ' ')
  ])),
  local labelText(labels) = std.join(',', ['%s="%s"' % [k, labels[k]] for k in std.objectFields(labels)]),
  // The families that carry `product`: the instance series and an account's own poll and API metrics.
  local carriesProduct(name) = std.length([p for p in ['zenlayer_instance', 'zenlayer_maintenance', 'zenlayer_up', 'zenlayer_exporter_poll', 'zenlayer_exporter_api', 'zenlayer_exporter_last_poll'] if std.startsWith(name, p)]) > 0,
  local vm = { product: 'vm' },
  // A series of the exporter `instance`, with `labels` besides the target's (and the product, where it has one).
  local series(name, labels, values, instance='exp:9612') = {
    series: '%s{%s}' % [name, labelText(target { instance: instance } + (if carriesProduct(name) then vm else {}) + labels)],
    values: expand(values),
  },
  local base = target { instance: 'exp:9612' },
  local inst(id, status, extra={}) = base + vm + extra + { instance_id: id, status: status },
  local st(id, status, values, extra={}) = series('zenlayer_instance_status', extra { instance_id: id, status: status }, values),
  local info(id, name, zone, values, extra={}) = series('zenlayer_instance_info', extra {
    instance_id: id,
    instance_name: name,
    zone_id: zone,
    instance_type: 'c.4c8g',
    image_name: 'Ubuntu',
    charge_type: 'PREPAID',
    resource_group: 'Default Resource Group',
  }, values),
  local per(metric, id, values) = series(metric, { instance_id: id }, values),

  // Bare metal: a server's component health and sensor readings, and its maintenance windows.
  local bmc = { product: 'bmc' },
  local server(id, extra={}) = base + bmc + extra + { instance_id: id },
  local health(id, component, value, values, extra={}) =
    series('zenlayer_instance_component_health', bmc + extra + { instance_id: id, component: component, health: value }, values),
  local temperature(id, sensor, values) = series('zenlayer_instance_temperature_celsius', bmc { instance_id: id, sensor: sensor }, values),
  // A window of server `id` the whole test long (`samples` minutes, as promtool's `v+0xN`: the tests of an
  // overrun last hours): its start and end series and, when it has a location or impact, its info series;
  // `labels` and `found` are what its alerts carry and look up, `current` and `overrun` its in-progress alert
  // with that `window` label.
  local window(id, status, start, end, location='', impact='', extra={}, samples=61) = {
    local labels = bmc + extra + { instance_id: id, status: status },
    local constant(v) = '%d+0x%d' % [v, samples - 1],
    series: [
      series('zenlayer_maintenance_start_timestamp_seconds', labels, constant(start)),
      series('zenlayer_maintenance_end_timestamp_seconds', labels, constant(end)),
    ] + (if location == '' && impact == '' then [] else [
      series('zenlayer_maintenance_info', labels { location: location, impact: impact }, constant(1)),
    ]),
    labels: base + labels,
    found: { start: start, end: end, location: location, impact: impact },
    local inProgress(phase, found) = alert('ZenlayerMaintenanceInProgress', self.labels { window: phase }, found=self.found + found),
    current(found={}): inProgress('current', found),
    overrun(found={}): inProgress('overrun', found),
  },
  local HOUR = 3600,
  // A Unix time as the maintenance alerts say it: "1970-01-01 05:00 UTC" (Howard Hinnant's civil_from_days).
  local utc(t) =
    local days = std.floor(t / DAY), minutes = std.floor((t - days * DAY) / 60);
    local z = days + 719468, era = std.floor(z / 146097), doe = z - era * 146097;
    local yoe = std.floor((doe - std.floor(doe / 1460) + std.floor(doe / 36524) - std.floor(doe / 146096)) / 365);
    local doy = doe - (365 * yoe + std.floor(yoe / 4) - std.floor(yoe / 100));
    local mp = std.floor((5 * doy + 2) / 153);
    local month = if mp < 10 then mp + 3 else mp - 9;
    '%04d-%02d-%02d %02d:%02d UTC' % [yoe + era * 400 + (if month <= 2 then 1 else 0), month, doy - std.floor((153 * mp + 2) / 5) + 1, std.floor(minutes / 60), minutes % 60],

  // The alerts' sentences with one alert's values: what Prometheus renders from the templates.
  local voice(labels, value, found) = {
    name: if std.objectHas(found, 'instance_name') && found.instance_name != '' then found.instance_name else std.get(labels, 'instance_id', ''),
    where: if std.objectHas(found, 'zone_id') && found.zone_id != '' then ' in ' + found.zone_id else '',
    label(l): labels[l],
    value(format=''): value,
    account(text): if std.get(labels, 'account', '') != '' then text % labels.account else '',
    product(text): if std.get(labels, 'product', '') != '' then text % labels.product else '',
    owners(_):
      local owners = std.get(found, 'owners', []);
      if owners == [] then 'none' else std.join(', ', ['%s (shard %s of %s)' % o for o in owners]),
    start: if std.objectHas(found, 'start') then utc(found.start) else 'unknown',
    end: if std.objectHas(found, 'end') then utc(found.end) else 'unknown',
    location(text): if std.get(found, 'location', '') != '' then text % found.location else '',
    impact(text): if std.get(found, 'impact', '') != '' then text % found.impact else '',
    choose(l, cases, otherwise): std.toString(std.get(cases, labels[l], otherwise)),
  },
  local alert(name, labels, value='', found={}) =
    local a = alerts[name];
    // An alert that fires per product carries the product of the series it reads (the tests' are vm).
    local all = (if std.get(a, 'perProduct', false) then vm else {}) + labels + a.labels;
    {
      exp_labels: all,
      exp_annotations: a.annotations(voice(all, value, found)) + { runbook_url: m._config.runbookURL % std.asciiLower(name) },
    },
  local check(at, name, expected=[]) = { eval_time: at, alertname: name, exp_alerts: expected },

  local prod = { account: 'prod' },
  local staging = { account: 'staging' },

  // The shard alerts' labels: the target's that every replica of the job shares.
  local job = { [k]: target[k] for k in std.objectFields(target) if k == 'job' || std.member(m._config.shardLabels, k) },
  // `account` owned by the replica `instance`, shard `shard` of `total`.
  local owned(instance, account, shard, total, values) =
    series('zenlayer_exporter_account_owned', { account: account, shard: std.toString(shard), total_shards: std.toString(total) }, values, instance),
  local fileAccounts(instance, count, values='*31') = series('zenlayer_exporter_accounts_file_accounts', {}, '%d%s' % [count, values], instance),

  local tests = [
    {
      name: 'two accounts, one blind: its last known STOPPED keeps firing, named with its account; the healthy one\'s released instance drops out',
      input_series: [
        series('zenlayer_up', prod, '1*8 0*18'),
        series('zenlayer_up', staging, '1*26'),
        st('i-1', 'STOPPED', '1*8 stale', prod),
        st('i-2', 'STOPPED', '1*8 stale', staging),
        series('zenlayer_instance_info', prod { instance_id: 'i-1', instance_name: 'web-prod', zone_id: 'FRA-A' }, '1*26'),
      ],
      alert_rule_test: [
        check('4m', 'ZenlayerInstanceStopped'),
        check('7m', 'ZenlayerInstanceStopped', [
          alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED', prod), found={ instance_name: 'web-prod', zone_id: 'FRA-A' }),
          alert('ZenlayerInstanceStopped', inst('i-2', 'STOPPED', staging)),
        ]),
        check('20m', 'ZenlayerInstanceStopped', [
          alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED', prod), found={ instance_name: 'web-prod', zone_id: 'FRA-A' }),
        ]),
        check('15m', 'ZenlayerPollsFailing', [alert('ZenlayerPollsFailing', base + prod)]),
      ],
    },
    {
      name: 'two accounts: the RUNNING count is per account, so one account\'s drop pages for it alone',
      input_series: [
        series('zenlayer_instances', prod { status: 'RUNNING' }, '100*6 80*10'),
        series('zenlayer_instances', staging { status: 'RUNNING' }, '50*6 70*10'),
      ],
      alert_rule_test: [check('9m', 'ZenlayerRunningInstancesDropped', [alert('ZenlayerRunningInstancesDropped', base + prod, '20')])],
    },
    {
      name: 'a STOPPED instance pages after 5 minutes; a RUNNING one and one that recovered do not',
      input_series: [
        series('zenlayer_up', {}, '1*31'),
        st('i-1', 'STOPPED', '1*31'),
        st('i-2', 'RUNNING', '1*31'),
        st('i-3', 'STOPPED', '1*4 stale'),
        st('i-3', 'RUNNING', '_*4 1*27'),
      ],
      alert_rule_test: [
        check('4m', 'ZenlayerInstanceStopped'),
        check('6m', 'ZenlayerInstanceStopped', [alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED'))]),
      ],
    },
    {
      name: 'a STOPPED alert names the instance and its zone from the info series, kept through an hour without metadata',
      input_series: [
        series('zenlayer_up', {}, '1*31'),
        st('i-1', 'STOPPED', '1*31'),
        st('i-2', 'STOPPED', '1*31'),
        st('i-3', 'STOPPED', '1*31'),
        info('i-1', 'web-fra-01', 'FRA-A', '1*3 stale'),
        info('i-2', 'db-01', '', '1*31'),
      ],
      alert_rule_test: [check('6m', 'ZenlayerInstanceStopped', [
        alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED'), found={ instance_name: 'web-fra-01', zone_id: 'FRA-A' }),
        alert('ZenlayerInstanceStopped', inst('i-2', 'STOPPED'), found={ instance_name: 'db-01', zone_id: '' }),
        alert('ZenlayerInstanceStopped', inst('i-3', 'STOPPED')),
      ])],
    },
    {
      name: 'an instance tagged monitoring=off is kept out of the instance alerts, even while the exporter is blind; monitoring=on is not',
      input_series: [
        series('zenlayer_up', {}, '1*10 0*31'),
        st('i-1', 'STOPPED', '1*41'),
        st('i-2', 'STOPPED', '1*41'),
        st('i-3', 'BOOTING', '1*41'),
        st('i-4', 'CREATE_FAILED', '1*41'),
        info('i-1', 'parked', 'FRA-A', '1*10 stale', { tag_monitoring: 'off' }),
        info('i-2', 'watched', 'FRA-A', '1*41', { tag_monitoring: 'on' }),
        info('i-3', 'parked-too', 'FRA-A', '1*41', { tag_monitoring: 'off' }),
        info('i-4', 'parked-failed', 'FRA-A', '1*41', { tag_monitoring: 'off' }),
      ],
      alert_rule_test: [
        check('8m', 'ZenlayerInstanceStopped', [alert('ZenlayerInstanceStopped', inst('i-2', 'STOPPED'), found={ instance_name: 'watched', zone_id: 'FRA-A' })]),
        // Blind, and i-1's info series gone stale: it stays excluded for the hour the lookup reaches back.
        check('40m', 'ZenlayerInstanceStopped', [alert('ZenlayerInstanceStopped', inst('i-2', 'STOPPED'), found={ instance_name: 'watched', zone_id: 'FRA-A' })]),
        check('40m', 'ZenlayerInstanceStuckInTransition'),
        check('40m', 'ZenlayerInstanceFailed'),
      ],
    },
    {
      name: 'a prepaid instance expiring within 7 days without auto-renewal warns; renewing, far-off or postpaid ones do not',
      input_series: [
        info('i-1', 'web-fra-01', 'FRA-A', '1*31'),
        per('zenlayer_instance_expiry_timestamp_seconds', 'i-1', '%d*31' % (3 * DAY)),
        per('zenlayer_instance_auto_renew', 'i-1', '0*31'),
        per('zenlayer_instance_expiry_timestamp_seconds', 'i-2', '%d*31' % (3 * DAY)),
        per('zenlayer_instance_auto_renew', 'i-2', '1*31'),
        per('zenlayer_instance_expiry_timestamp_seconds', 'i-3', '%d*31' % (30 * DAY)),
        per('zenlayer_instance_auto_renew', 'i-3', '0*31'),
        per('zenlayer_instance_expiry_timestamp_seconds', 'i-4', '%d*31' % (3 * DAY)),
        per('zenlayer_instance_auto_renew', 'i-4', '0*10 1*21'),
      ],
      alert_rule_test: [
        check('14m', 'ZenlayerPrepaidInstanceExpiring'),
        check('20m', 'ZenlayerPrepaidInstanceExpiring', [
          alert('ZenlayerPrepaidInstanceExpiring', base { instance_id: 'i-1' }, '2d 23h 40m 0s', found={ instance_name: 'web-fra-01', zone_id: 'FRA-A' }),
        ]),
      ],
    },
    {
      name: "every component's documented alarm, and a value the API added, warns after 5 minutes naming the server; OK, UNKNOWN, a state set's zeros and a short alarm do not",
      input_series: [info('b-1', 'db-01', 'LAX-A', '1*11', bmc)]
                    + [health('b-1', component.name, alarm, '1*11') for component in hardware.components for alarm in component.alarms]
                    // As with ZENLAYER_EXPORTER_STATUS_SERIES=all: every documented value, OK at 1 and the others at 0.
                    + [health('b-2', component.name, v, if v == 'OK' then '1*11' else '0*11') for component in hardware.components for v in component.values]
                    + [health('b-3', component.name, 'UNKNOWN', '1*11') for component in hardware.components]
                    + [
                      health('b-4', 'fan', 'DEGRADED', '1*11'),
                      health('b-5', 'disk', 'WARNING', '1*3 stale'),
                      health('b-5', 'disk', 'OK', '_*3 1*8'),
                    ],
      alert_rule_test: [
        check('4m', 'ZenlayerHardwareUnhealthy'),
        check('10m', 'ZenlayerHardwareUnhealthy', [
          alert('ZenlayerHardwareUnhealthy', server('b-1') { component: component.name, health: alarm }, found={ instance_name: 'db-01', zone_id: 'LAX-A' })
          for component in hardware.components
          for alarm in component.alarms
        ] + [alert('ZenlayerHardwareUnhealthy', server('b-4') { component: 'fan', health: 'DEGRADED' })]),
      ],
    },
    {
      name: 'a hardware alarm that clears resolves 10 minutes later; one whose series vanish for a while (the exporter restarting) keeps firing',
      input_series: [
        health('b-1', 'disk', 'WARNING', '1*10 stale'),
        health('b-1', 'disk', 'OK', '_*10 1*20'),
        health('b-2', 'psu', 'WARNING', '1*10 stale _*5 1*15'),
      ],
      local disk = alert('ZenlayerHardwareUnhealthy', server('b-1') { component: 'disk', health: 'WARNING' }),
      local psu = alert('ZenlayerHardwareUnhealthy', server('b-2') { component: 'psu', health: 'WARNING' }),
      alert_rule_test: [
        check('15m', 'ZenlayerHardwareUnhealthy', [disk, psu]),
        check('21m', 'ZenlayerHardwareUnhealthy', [psu]),
      ],
    },
    {
      name: 'a sensor over 85 °C for 5 minutes warns, an inlet over its own 40 °C; at the threshold, under it, or hot briefly, none does',
      input_series: [
        info('b-1', 'db-01', 'LAX-A', '1*11', bmc),
        temperature('b-1', 'cpu0', '91*11'),
        temperature('b-1', 'cpu1', '80*11'),
        temperature('b-2', 'inlet', '45*11'),
        temperature('b-3', 'cpu', '85*11'),
        temperature('b-4', 'inlet', '35*11'),
        temperature('b-5', 'cpu0', '95*3 70*8'),
      ],
      alert_rule_test: [
        check('4m', 'ZenlayerTemperatureHigh'),
        check('10m', 'ZenlayerTemperatureHigh', [
          alert('ZenlayerTemperatureHigh', server('b-1') { sensor: 'cpu0' }, '91', found={ instance_name: 'db-01', zone_id: 'LAX-A' }),
          alert('ZenlayerTemperatureHigh', server('b-2') { sensor: 'inlet' }, '45'),
        ]),
      ],
    },
    {
      name: 'a planned maintenance warns within 24 hours of its start, naming the server, its times, location and impact; one further off, past or in progress does not',
      local soon = window('b-1', 'scheduled', 5 * HOUR, 9 * HOUR, 'LAX1', 'Power work: the server is off for up to 2 hours.', prod),
      local bare = window('b-2', 'scheduled', 6 * HOUR, 7 * HOUR),
      input_series: [info('b-1', 'db-01', 'LAX-A', '1*11', bmc + prod)] + soon.series + bare.series
                    // Enters the lead time at 8 minutes: pending at 10.
                    + window('b-3', 'scheduled', DAY + 8 * 60, DAY + HOUR).series
                    + window('b-4', 'scheduled', 30 * HOUR, 31 * HOUR).series
                    + window('b-5', 'scheduled', 60, 5 * 60).series
                    + window('b-6', 'in progress', 2 * HOUR, 3 * HOUR).series,
      alert_rule_test: [
        check('4m', 'ZenlayerMaintenanceUpcoming'),
        check('10m', 'ZenlayerMaintenanceUpcoming', [
          alert('ZenlayerMaintenanceUpcoming', soon.labels, '4h 50m 0s', found=soon.found { instance_name: 'db-01', zone_id: 'LAX-A' }),
          alert('ZenlayerMaintenanceUpcoming', bare.labels, '5h 50m 0s', found=bare.found),
        ]),
      ],
    },
    {
      name: 'a maintenance in progress is said while its window runs and 10 minutes more, or while the API says so, in any casing: early as current, late as an overrun',
      local running = window('b-1', 'scheduled', 2 * 60, 30 * 60, 'LAX1', 'Power work.'),
      local overrun = window('b-2', 'in progress', 60, 5 * 60),
      local early = window('b-3', 'In Progress', 2 * HOUR, 3 * HOUR),
      input_series: [info('b-1', 'db-01', 'LAX-A', '1*61', bmc)] + running.series + overrun.series + early.series,
      local named = { instance_name: 'db-01', zone_id: 'LAX-A' },
      alert_rule_test: [
        check('20m', 'ZenlayerMaintenanceInProgress', [running.current(named), overrun.overrun(), early.current()]),
        check('45m', 'ZenlayerMaintenanceInProgress', [overrun.overrun(), early.current()]),
      ],
    },
    {
      name: 'an overrun the API reports is said until maintenanceOverrunGrace past the end, then no longer, though the snapshot stays served',
      local grace = duration(m._config.maintenanceOverrunGrace),
      local keep = duration(m._config.keepFiringFor),
      // `late` ends 5 minutes in; at `at` it is past its end by more than the grace (and the keep_firing_for
      // after it), while `later`, which ends 10 minutes less than the grace before `at`, is past its by less.
      local at = 5 * 60 + grace + keep + 10 * 60,
      local samples = at / 60 + 1,
      local late = window('b-1', 'in progress', 60, 5 * 60, 'LAX1', 'Power work.', samples=samples),
      local laterEnd = at - grace + 10 * 60,
      local later = window('b-2', 'in progress', 60, laterEnd, samples=samples),
      // The same times without the status: ended, so not in progress.
      local ended = window('b-3', 'scheduled', 60, 5 * 60, samples=samples),
      input_series: late.series + later.series + ended.series,
      alert_rule_test: [
        check('30m', 'ZenlayerMaintenanceInProgress', [late.overrun(), later.current()]),
        // Past its end, `later` is an overrun; as current it keeps firing for keep_firing_for (which is what
        // holds the server's STOPPED page back) and then resolves.
        check('%dm' % ((laterEnd + keep / 2) / 60), 'ZenlayerMaintenanceInProgress', [late.overrun(), later.current(), later.overrun()]),
        // A minute short of the grace past its end, `late` is still said.
        check('%dm' % ((5 * 60 + grace) / 60 - 1), 'ZenlayerMaintenanceInProgress', [late.overrun(), later.overrun()]),
        check('%dm' % (at / 60), 'ZenlayerMaintenanceInProgress', [later.overrun()]),
      ],
    },
    {
      name: 'a window ahead is not in progress, nor one long past (after its 10 minutes more)',
      input_series: window('b-1', 'scheduled', 2 * HOUR, 3 * HOUR).series + window('b-2', 'scheduled', 0, 5 * 60).series,
      alert_rule_test: [check('20m', 'ZenlayerMaintenanceInProgress')],
    },
    {
      name: 'a bare-metal server tagged monitoring=off is kept out of the hardware, temperature and maintenance alerts; monitoring=on is not',
      local windows(id) = [window(id, 'scheduled', 5 * HOUR, 6 * HOUR), window(id, 'in progress', 0, HOUR)],
      input_series: [
        info('b-1', 'watched', 'LAX-A', '1*11', bmc { tag_monitoring: 'on' }),
        info('p-1', 'parked', 'LAX-A', '1*11', bmc { tag_monitoring: 'off' }),
      ] + std.flattenArrays([
        [health(id, 'disk', 'WARNING', '1*11'), temperature(id, 'cpu0', '95*11')] + std.flattenArrays([w.series for w in windows(id)])
        for id in ['b-1', 'p-1']
      ]),
      local named = { instance_name: 'watched', zone_id: 'LAX-A' },
      local upcoming = windows('b-1')[0],
      local now = windows('b-1')[1],
      alert_rule_test: [
        check('10m', 'ZenlayerHardwareUnhealthy', [alert('ZenlayerHardwareUnhealthy', server('b-1') { component: 'disk', health: 'WARNING' }, found=named)]),
        check('10m', 'ZenlayerTemperatureHigh', [alert('ZenlayerTemperatureHigh', server('b-1') { sensor: 'cpu0' }, '95', found=named)]),
        check('10m', 'ZenlayerMaintenanceUpcoming', [alert('ZenlayerMaintenanceUpcoming', upcoming.labels, '4h 50m 0s', found=named + upcoming.found)]),
        check('10m', 'ZenlayerMaintenanceInProgress', [now.current(named)]),
      ],
    },
    {
      name: 'hardware health and maintenance polls that stopped succeeding, or never did, warn; polls that keep succeeding do not',
      local poll(action, values, instance) = series('zenlayer_exporter_last_poll_success_timestamp_seconds', bmc { action: action }, values, instance),
      local health = hardware.constants.DESCRIBE_INSTANCES_MONITOR_HEALTH,
      local maintenance = hardware.constants.DESCRIBE_MAINTENANCE_ALERTS,
      input_series: [
        poll(health, '60*90', 'a:9612'),
        poll(health, '0+60x89', 'b:9612'),
        poll(health, '0*90', 'c:9612'),
        poll(maintenance, '60*90', 'a:9612'),
        // Every 5 minutes, its interval.
        poll(maintenance, std.join(' ', ['%d*5' % (i * 300) for i in std.range(0, 17)]), 'b:9612'),
      ],
      alert_rule_test: [
        check('20m', 'ZenlayerHardwareHealthStale'),
        check('25m', 'ZenlayerHardwareHealthStale', [
          alert('ZenlayerHardwareHealthStale', target { instance: 'a:9612', action: health } + bmc, '24m 0s'),
          alert('ZenlayerHardwareHealthStale', target { instance: 'c:9612', action: health } + bmc, '25m 0s'),
        ]),
        check('75m', 'ZenlayerMaintenanceStale'),
        check('80m', 'ZenlayerMaintenanceStale', [
          alert('ZenlayerMaintenanceStale', target { instance: 'a:9612', action: maintenance } + bmc, '1h 19m 0s'),
        ]),
      ],
    },
    {
      name: 'metadata stale: no successful DescribeInstances poll for over an hour; the status poll is not concerned',
      input_series: [
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstances' }, '60*90', 'a:9612'),
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstancesStatus' }, '0+60x89', 'a:9612'),
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstances' }, '0+300x17 5100+60x71', 'b:9612'),
        // Bare metal's DescribeInstances is its status poll: ZenlayerDataStale's, not this alert's.
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstances', product: 'bmc' }, '0+60x89', 'c:9612'),
      ],
      alert_rule_test: [
        check('70m', 'ZenlayerMetadataStale'),
        check('80m', 'ZenlayerMetadataStale', [
          alert('ZenlayerMetadataStale', target { instance: 'a:9612', action: 'DescribeInstances' }, '1h 19m 0s'),
        ]),
        check('14m', 'ZenlayerDataStale'),
      ],
    },
    {
      name: 'target down: the last known STOPPED keeps firing, a change seen before the outage is kept, ExporterDown fires',
      input_series: [
        series('up', {}, '1*11 0*20'),
        series('zenlayer_up', {}, '1*11 stale'),
        st('i-1', 'STOPPED', '1*11 stale'),
        st('i-2', 'STOPPED', '1*6 stale'),
        st('i-2', 'RUNNING', '_*6 1*5 stale'),
      ],
      alert_rule_test: [
        check('25m', 'ZenlayerInstanceStopped', [alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED'))]),
        check('14m', 'ZenlayerExporterDown'),
        check('25m', 'ZenlayerExporterDown', [alert('ZenlayerExporterDown', base)]),
      ],
    },
    {
      name: 'polls failing: the last snapshot is served, STOPPED keeps firing, PollsFailing fires',
      input_series: [series('zenlayer_up', {}, '1*6 0*20'), st('i-1', 'STOPPED', '1*26')],
      alert_rule_test: [
        check('12m', 'ZenlayerInstanceStopped', [alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED'))]),
        check('10m', 'ZenlayerPollsFailing'),
        check('12m', 'ZenlayerPollsFailing', [alert('ZenlayerPollsFailing', base)]),
      ],
    },
    {
      name: 'restarted while the API is down: no snapshot yet, the last known STOPPED persists',
      input_series: [series('zenlayer_up', {}, '1*6 0*20'), st('i-1', 'STOPPED', '1*6 stale')],
      alert_rule_test: [check('20m', 'ZenlayerInstanceStopped', [alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED'))])],
    },
    {
      name: 'healthy again after an outage: an instance released meanwhile drops out',
      input_series: [
        series('up', {}, '1*6 0*3 1*12'),
        series('zenlayer_up', {}, '1*6 stale _*2 1*12'),
        st('i-1', 'STOPPED', '1*6 stale'),
        st('i-2', 'RUNNING', '1*6 stale _*2 1*12'),
      ],
      alert_rule_test: [
        check('8m', 'ZenlayerInstanceStopped', [alert('ZenlayerInstanceStopped', inst('i-1', 'STOPPED'))]),
        check('12m', 'ZenlayerInstanceStopped'),
      ],
    },
    {
      name: 'stuck in a transition for 30 minutes; a transition that completes is fine',
      input_series: [
        series('zenlayer_up', {}, '1*41'),
        st('i-1', 'BOOTING', '1*41'),
        st('i-2', 'BOOTING', '1*10 stale'),
        st('i-2', 'RUNNING', '_*10 1*31'),
      ],
      alert_rule_test: [
        check('29m', 'ZenlayerInstanceStuckInTransition'),
        check('31m', 'ZenlayerInstanceStuckInTransition', [alert('ZenlayerInstanceStuckInTransition', inst('i-1', 'BOOTING'))]),
      ],
    },
    {
      name: "each product's failure states: a failed creation, a ZEC rebuild and a bare-metal install that failed; an install in progress is not one",
      input_series: [
        series('zenlayer_up', {}, '1*5'),
        series('zenlayer_up', { product: 'zec' }, '1*5'),
        series('zenlayer_up', { product: 'bmc' }, '1*5'),
        st('i-1', 'CREATE_FAILED', '1*5'),
        st('i-2', 'RUNNING', '1*5'),
        st('z-1', 'REINSTALL_FAILED', '1*5', { product: 'zec' }),
        st('b-1', 'INSTALL_FAILED', '1*5', { product: 'bmc' }),
        st('b-2', 'INSTALLING', '1*5', { product: 'bmc' }),
      ],
      alert_rule_test: [
        check('0m', 'ZenlayerInstanceFailed'),
        check('2m', 'ZenlayerInstanceFailed', [
          alert('ZenlayerInstanceFailed', inst('b-1', 'INSTALL_FAILED', { product: 'bmc' })),
          alert('ZenlayerInstanceFailed', inst('i-1', 'CREATE_FAILED')),
          alert('ZenlayerInstanceFailed', inst('z-1', 'REINSTALL_FAILED', { product: 'zec' })),
        ]),
      ],
    },
    {
      name: "a transition of ZEC's or bare metal's own vocabulary that lasts 30 minutes is stuck too",
      input_series: [
        series('zenlayer_up', { product: 'zec' }, '1*41'),
        series('zenlayer_up', { product: 'bmc' }, '1*41'),
        st('z-1', 'RESIZING', '1*41', { product: 'zec' }),
        st('b-1', 'INSTALLING', '1*41', { product: 'bmc' }),
      ],
      alert_rule_test: [
        check('31m', 'ZenlayerInstanceStuckInTransition', [
          alert('ZenlayerInstanceStuckInTransition', inst('b-1', 'INSTALLING', { product: 'bmc' })),
          alert('ZenlayerInstanceStuckInTransition', inst('z-1', 'RESIZING', { product: 'zec' })),
        ]),
      ],
    },
    {
      name: 'a fleet-wide drop of RUNNING instances pages once; a single instance stopping does not',
      input_series: [
        series('zenlayer_instances', { status: 'RUNNING' }, '100*6 80*10', 'a:9612'),
        series('zenlayer_instances', { status: 'RUNNING' }, '100*6 99*10', 'b:9612'),
      ],
      alert_rule_test: [
        check('6m', 'ZenlayerRunningInstancesDropped'),
        check('9m', 'ZenlayerRunningInstancesDropped', [alert('ZenlayerRunningInstancesDropped', target { instance: 'a:9612' }, '20')]),
      ],
    },
    {
      name: 'data stale: no successful poll for over 10 minutes; a poll that keeps succeeding or never did is not stale',
      input_series: [
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstancesStatus' }, '60*20', 'a:9612'),
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstancesStatus' }, '0+60x19', 'b:9612'),
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstancesStatus' }, '0*20', 'c:9612'),
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstances' }, '60*20', 'd:9612'),
        // Bare metal's status poll is its DescribeInstances.
        series('zenlayer_exporter_last_poll_success_timestamp_seconds', { action: 'DescribeInstances', product: 'bmc' }, '60*20', 'e:9612'),
      ],
      alert_rule_test: [
        check('11m', 'ZenlayerDataStale'),
        check('14m', 'ZenlayerDataStale', [
          alert('ZenlayerDataStale', target { instance: 'a:9612', action: 'DescribeInstancesStatus' }, '13m 0s'),
          alert('ZenlayerDataStale', target { instance: 'e:9612', action: 'DescribeInstances', product: 'bmc' }, '13m 0s'),
        ]),
      ],
    },
    {
      name: 'sustained throttling above 20% of calls; 5% is not',
      input_series: [
        series('zenlayer_exporter_api_requests_total', { action: 'DescribeInstancesStatus' }, '0+100x40', 'a:9612'),
        series('zenlayer_exporter_api_request_failures_total', { action: 'DescribeInstancesStatus', reason: 'throttled' }, '0+30x40', 'a:9612'),
        series('zenlayer_exporter_api_requests_total', { action: 'DescribeInstancesStatus' }, '0+100x40', 'b:9612'),
        series('zenlayer_exporter_api_request_failures_total', { action: 'DescribeInstancesStatus', reason: 'throttled' }, '0+5x40', 'b:9612'),
      ],
      alert_rule_test: [
        check('10m', 'ZenlayerApiThrottled'),
        check('20m', 'ZenlayerApiThrottled', [alert('ZenlayerApiThrottled', target { instance: 'a:9612' }, '30%')]),
      ],
    },
    {
      name: 'a failed accounts-file reload warns after 5 minutes; one that loads at the next try does not',
      input_series: [
        series('zenlayer_exporter_config_last_reload_successful', {}, '1*3 0*12', 'a:9612'),
        series('zenlayer_exporter_config_last_reload_successful', {}, '1*3 0 1*11', 'b:9612'),
      ],
      alert_rule_test: [
        check('7m', 'ZenlayerAccountsFileReloadFailed'),
        check('10m', 'ZenlayerAccountsFileReloadFailed', [alert('ZenlayerAccountsFileReloadFailed', target { instance: 'a:9612' })]),
      ],
    },
    {
      name: 'a failed web-configuration reload warns after 5 minutes; one that loads at the next try does not',
      input_series: [
        series('zenlayer_exporter_web_config_last_reload_successful', {}, '1*3 0*12', 'a:9612'),
        series('zenlayer_exporter_web_config_last_reload_successful', {}, '1*3 0 1*11', 'b:9612'),
      ],
      alert_rule_test: [
        check('7m', 'ZenlayerWebConfigReloadFailed'),
        check('10m', 'ZenlayerWebConfigReloadFailed', [alert('ZenlayerWebConfigReloadFailed', target { instance: 'a:9612' })]),
      ],
    },
    {
      name: 'two shards share the 3 accounts of the file, each once: no shard alert, not even while one restarts',
      input_series: [
        fileAccounts('a:9612', 3),
        fileAccounts('b:9612', 3, '*10 stale _*5 3*15'),
        owned('a:9612', 'prod', 0, 2, '1*31'),
        owned('a:9612', 'staging', 0, 2, '1*31'),
        owned('b:9612', 'dev', 1, 2, '1*10 stale _*5 1*15'),
      ],
      alert_rule_test: [
        // b's accounts unowned from 10m to 15m: pending, not firing.
        check('15m', 'ZenlayerAccountUnowned'),
        check('30m', 'ZenlayerAccountUnowned'),
        check('30m', 'ZenlayerAccountOwnedTwice'),
        check('30m', 'ZenlayerShardsDisagree'),
      ],
    },
    {
      name: 'an account of the file that no shard polls pages after 15 minutes, naming the shards seen',
      input_series: [
        fileAccounts('a:9612', 3),
        fileAccounts('b:9612', 3),
        owned('a:9612', 'prod', 0, 2, '1*31'),
        owned('b:9612', 'staging', 1, 2, '1*31'),
      ],
      alert_rule_test: [
        check('14m', 'ZenlayerAccountUnowned'),
        check('16m', 'ZenlayerAccountUnowned', [
          alert('ZenlayerAccountUnowned', job, '1', found={ owners: [['a:9612', 0, 2], ['b:9612', 1, 2]] }),
        ]),
        check('16m', 'ZenlayerAccountOwnedTwice'),
        check('16m', 'ZenlayerShardsDisagree'),
      ],
    },
    {
      name: 'a lone replica that owns none of the accounts of the file: every account is unpolled',
      input_series: [fileAccounts('a:9612', 2)],
      alert_rule_test: [
        check('16m', 'ZenlayerAccountUnowned', [alert('ZenlayerAccountUnowned', job, '2')]),
      ],
    },
    {
      name: 'two replicas without shard settings: each account polled twice warns, per account',
      input_series: [
        fileAccounts('a:9612', 2),
        fileAccounts('b:9612', 2),
        owned('a:9612', 'prod', 0, 1, '1*31'),
        owned('a:9612', 'staging', 0, 1, '1*31'),
        owned('b:9612', 'prod', 0, 1, '_*10 1*21'),
        owned('b:9612', 'staging', 0, 1, '_*10 1*21'),
      ],
      local twice(account) = alert('ZenlayerAccountOwnedTwice', job { account: account }, '2', found={ owners: [['a:9612', 0, 1], ['b:9612', 0, 1]] }),
      alert_rule_test: [
        check('20m', 'ZenlayerAccountOwnedTwice'),
        check('26m', 'ZenlayerAccountOwnedTwice', [twice('prod'), twice('staging')]),
        check('26m', 'ZenlayerAccountUnowned'),
        check('26m', 'ZenlayerShardsDisagree'),
      ],
    },
    {
      name: 'shards that disagree on the number of shards: one account twice, one by nobody, and the cause',
      input_series: [
        fileAccounts('a:9612', 3),
        fileAccounts('b:9612', 3),
        owned('a:9612', 'prod', 0, 2, '1*31'),
        owned('a:9612', 'staging', 0, 2, '1*31'),
        owned('b:9612', 'staging', 1, 3, '1*31'),
      ],
      local owners = { owners: [['a:9612', 0, 2], ['b:9612', 1, 3]] },
      alert_rule_test: [
        check('14m', 'ZenlayerShardsDisagree'),
        check('16m', 'ZenlayerShardsDisagree', [alert('ZenlayerShardsDisagree', job, '2', found=owners)]),
        check('16m', 'ZenlayerAccountOwnedTwice', [alert('ZenlayerAccountOwnedTwice', job { account: 'staging' }, '2', found=owners)]),
        check('16m', 'ZenlayerAccountUnowned', [alert('ZenlayerAccountUnowned', job, '1', found=owners)]),
      ],
    },
    {
      name: 'no target at all in the job',
      input_series: [{ series: 'up{job="something-else",instance="x:1"}', values: expand('1*15') }],
      alert_rule_test: [
        check('5m', 'ZenlayerExporterAbsent'),
        check('12m', 'ZenlayerExporterAbsent', [alert('ZenlayerExporterAbsent', absent)]),
      ],
    },
    {
      name: 'when an instance entered its status: kept while it lasts, renewed when it comes back',
      input_series: [
        series('zenlayer_up', {}, '1*31'),
        st('i-1', 'STOPPED', '_*3 1*9 stale _*7 1*11'),
        st('i-1', 'RUNNING', '_*13 1*7 stale'),
      ],
      local first(at, status, value) = {
        expr: 'zenlayer:instance_status:first_seen_timestamp{instance_id="i-1"}',
        eval_time: at,
        exp_samples: [{
          labels: 'zenlayer:instance_status:first_seen_timestamp{%s}' % labelText(base + vm { instance_id: 'i-1', status: status }),
          value: value,
        }],
      },
      promql_expr_test: [first('10m', 'STOPPED', 180), first('15m', 'RUNNING', 780), first('25m', 'STOPPED', 1200)],
    },
  ],

  rule_files: ['alerts.yml'],
  evaluation_interval: '1m',
  tests: [t { interval: '1m' } for t in tests],
}
