// A Prometheus duration ('24h', '1d12h', '90m') in seconds, for the thresholds PromQL compares with a number of
// seconds (Prometheus' durations are not numbers in an expression). Whole units from seconds to years.
local units = { y: 365 * 86400, w: 7 * 86400, d: 86400, h: 3600, m: 60, s: 1 };
function(duration)
  local step(acc, ch) =
    if std.member('0123456789', ch) then acc { digits+: ch }
    else
      assert std.objectHas(units, ch) && acc.digits != '' : 'not a duration: %s' % duration;
      { seconds: acc.seconds + std.parseInt(acc.digits) * units[ch], digits: '' };
  local read = std.foldl(step, std.stringChars(duration), { seconds: 0, digits: '' });
  assert read.digits == '' && duration != '' : 'not a duration (a unit is missing): %s' % duration;
  read.seconds
