//! `zenlayer-sim`: the Zenlayer API simulator (VM, ZEC and bare metal, and the maintenance service) on its own,
//! for pointing any client (the exporter, the vendor's SDK or CLI, curl) at a fleet and rehearsing alerts. Flags
//! in, simulator out; the work is in `sim`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use zenlayer_exporter::sim::{FaultRule, SimOptions, Simulator};
use zenlayer_exporter::zenlayer::product::Product;

const HELP: &str = "zenlayer-sim: a simulator of the Zenlayer Cloud compute APIs: VM (/api/v2/vm), ZEC
(/api/v2/zec) and bare metal (/api/v2/bmc), DescribeInstancesStatus and DescribeInstances, bare metal's
DescribeInstancesMonitorHealth, and the maintenance service's DescribeMaintenanceAlerts (/api/v2/maintenance)

Usage: zenlayer-sim [flags]

  --listen ADDR              address to serve (default 127.0.0.1:8089)
  --instances N              VM fleet size, 0 to 5000000 (default 1000)
  --product NAME=N           another product's fleet size, repeatable: zec=N, bmc=N (default 0 each)
  --seed N                   seed of the generated fleet; the same seed gives the same fleet (default 1)
  --churn RATE               lifecycle events started per second (default 0: a still fleet)
  --latency-ms MS            added before every answer (default 0)
  --jitter-ms MS             up to this much more, random per answer (default 0)
  --accounts N               serve N accounts, 1 to 10000, each its own credentials and its own fleet of
                             --instances (seed, seed+1, ...); prints the accounts file to use (default 1)
  --flat                     answer in the flat envelope instead of the documented wrapped one
  --access-key-id ID         accepted access key id
  --access-key-secret SECRET accepted access key secret
  --token TOKEN              accepted bearer token
  --fault SPEC               a fault rule, repeatable: KIND[=VALUE][@every=K|@times=N], KIND one of
                             throttle[=RETRY_AFTER_S], server-error[=STATUS], html[=STATUS], unauthorized,
                             forbidden, challenge, not-found, reset, hang, truncated, invalid-json, invalid-utf8, null-fields,
                             negative-total, deep-nesting[=DEPTH], huge-body[=MB], trickle, wrong-total=N,
                             duplicate-rows, shift-after-page, ignore-page-num
                             (e.g. --fault throttle@every=5 --fault server-error=503@times=2)
  --help, --version

The control endpoint is served at /_sim/ on the same address (see docs/simulator.md).
";

fn parse(args: &[String]) -> Result<Option<SimOptions>, String> {
    let mut options = SimOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], 8089)),
        instances: 1000,
        ..SimOptions::default()
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            print!("{HELP}");
            return Ok(None);
        }
        if flag == "--version" {
            println!("zenlayer-sim {}", env!("CARGO_PKG_VERSION"));
            return Ok(None);
        }
        if flag == "--flat" {
            options.flat_envelope = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{what}: {value:?} is not a whole number"))
        };
        match flag.as_str() {
            "--listen" => {
                options.addr = value
                    .parse()
                    .map_err(|_| format!("--listen: {value:?} is not IP:PORT"))?
            }
            "--instances" => {
                options.instances = number("--instances")?
                    .try_into()
                    .ok()
                    .filter(|n| *n <= 5_000_000)
                    .ok_or("--instances: at most 5000000")?;
            }
            "--product" => {
                let (name, count) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--product: {value:?} is not NAME=N"))?;
                let product = Product::named(name).ok_or_else(|| {
                    format!("--product: {name:?} is not a product (vm, zec, bmc)")
                })?;
                let count = count
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 5_000_000)
                    .ok_or_else(|| {
                        format!("--product: {count:?} is not a size from 0 to 5000000")
                    })?;
                options.products.retain(|(p, _)| *p != product);
                options.products.push((product, count));
            }
            "--seed" => options.seed = number("--seed")?,
            "--accounts" => {
                options.accounts = number("--accounts")?
                    .try_into()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or("--accounts: 1 to 10000")?;
            }
            "--churn" => {
                options.churn_per_second = value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r >= 0.0)
                    .ok_or_else(|| format!("--churn: {value:?} is not a rate from 0"))?;
            }
            "--latency-ms" => options.latency = Duration::from_millis(number("--latency-ms")?),
            "--jitter-ms" => options.jitter = Duration::from_millis(number("--jitter-ms")?),
            "--access-key-id" => options.credentials.access_key_id = value.clone(),
            "--access-key-secret" => options.credentials.access_key_secret = value.clone(),
            "--token" => options.credentials.token = Some(value.clone()),
            "--fault" => options.faults.push(FaultRule::parse(value)?),
            other => return Err(format!("unknown flag {other:?}; see --help")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zenlayer-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zenlayer-sim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let shutdown = match zenlayer_exporter::shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("zenlayer-sim: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let credentials = options.credentials.clone();
        let (instances, seed, accounts) = (options.instances, options.seed, options.accounts);
        let others: String = options
            .products
            .iter()
            .map(|(p, n)| format!(", {n} {p}"))
            .collect();
        let sim = match Simulator::start(options).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("zenlayer-sim: cannot serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        let url = sim.url().as_str().trim_end_matches('/').to_owned();
        if accounts > 1 {
            // The accounts file on standard output, as is, so `zenlayer-sim --accounts 3 > accounts.yml` works;
            // what else there is to say goes to standard error.
            eprintln!(
                "zenlayer-sim serving {accounts} simulated accounts of {instances} instances each at {url}; \
                 the accounts file follows on standard output (ZENLAYER_EXPORTER_ACCOUNTS_FILE)"
            );
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(sim.accounts_file().as_bytes())
                .and_then(|()| stdout.flush());
            drop(stdout);
            shutdown.await;
            drop(sim);
            return ExitCode::SUCCESS;
        }
        let mut banner = format!(
            "zenlayer-sim serving a simulated Zenlayer API at {url} ({instances} vm{others} instances, seed {seed})\n\
             Point the exporter (or any client) at it:\n  export ZENLAYER_EXPORTER_API_URL={url}\n  \
             export ZENLAYERCLOUD_ACCESS_KEY_ID={}\n  export ZENLAYERCLOUD_ACCESS_KEY_PASSWORD={}\n",
            credentials.access_key_id, credentials.access_key_secret
        );
        if let Some(token) = &credentials.token {
            banner.push_str(&format!("  # or, instead of the key pair: export ZENLAYERCLOUD_ACCESS_TOKEN={token}\n"));
        }
        banner.push_str(&format!(
            "Control endpoint: {url}/_sim/instances, {url}/_sim/faults, {url}/_sim/credentials, {url}/_sim/stats \
             (another product's: {url}/_sim/zec/instances, ...; hardware health {url}/_sim/bmc/health, maintenance \
             {url}/_sim/maintenance/alerts)\n"
        ));
        // Whoever started us may stop reading standard output (a closed pipe): keep serving regardless.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(banner.as_bytes()).and_then(|()| stdout.flush());
        drop(stdout);
        shutdown.await;
        drop(sim);
        ExitCode::SUCCESS
    })
}
