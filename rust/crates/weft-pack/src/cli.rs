//! The `weft-pack` command line: argument types and what each command does.
//! `main.rs` only parses, sets up logging and maps the result to an exit code.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::image;
use crate::keys::{self, TrustedKeys};
use crate::statement::ImageParams;
use crate::store::{self, InstallOptions, InstallOutcome};
use crate::tree::EntryKind;
use crate::world::check_world;
use crate::{Verified, inspect, sign_package, verify_package};

/// The WEFT OS package tool.
///
/// Exit status: 0 success, 1 the operation failed or the input was refused (the
/// message says why), 2 the command line is wrong.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    /// Directory of trusted public keys (*.pub); default $WEFT_TRUSTED_KEYS, else
    /// /etc/weft/trusted-keys.
    #[arg(long, global = true, value_name = "DIR")]
    trusted_keys: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a package directory (manifest, component, imports, UI, and that
    /// the component links against the world WEFT hosts) and prints what it holds.
    #[command(alias = "inspect")]
    Check {
        /// The package directory (holding wapp.toml).
        package: PathBuf,
    },
    /// Writes a new Ed25519 key pair: PRIVATE (mode 0600) and PRIVATE with a .pub
    /// extension (or --public). Never overwrites.
    GenerateKey {
        /// The private key file to create.
        private: PathBuf,
        /// The public key file to create.
        #[arg(long)]
        public: Option<PathBuf>,
    },
    /// Checks a package directory and writes its signature (wapp.sig) into it.
    Sign {
        /// The private key.
        #[arg(long)]
        key: PathBuf,
        /// The package directory.
        package: PathBuf,
    },
    /// Verifies a package directory or an image (.wimg) against its signature and
    /// the trusted keys.
    Verify {
        /// A package directory or a .wimg image (its .sig beside it).
        target: PathBuf,
        /// Refuse unless the signed statement is for this app id (the id a
        /// system declares for the image it installs).
        #[arg(long, value_name = "APP-ID")]
        id: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Builds a package into a signed EROFS + dm-verity image:
    /// OUT/<id>-<version>.wimg and OUT/<id>-<version>.sig.
    BuildImage {
        /// The private key.
        #[arg(long)]
        key: PathBuf,
        /// The output directory.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// The package directory.
        package: PathBuf,
    },
    /// Verifies a signed package and installs it into the first writable store root.
    Install {
        /// The package directory.
        package: PathBuf,
        /// Replace an installed app of another version.
        #[arg(long)]
        replace: bool,
        /// With --replace, also install an older version than the installed one.
        #[arg(long)]
        allow_downgrade: bool,
        /// Where to store the component compiled ahead of time.
        #[arg(long, env = "WEFT_AOT_DIR", default_value = weft_protocol::runtime::DEFAULT_AOT_DIR)]
        aot_dir: PathBuf,
    },
    /// Compiles the component read from standard input into the store of
    /// precompiled components, unless a usable artifact is already there, and
    /// prints the artifact's path. The runtime runs it when it finds no
    /// artifact for the component it is launching (an app of an image).
    Precompile {
        /// Where to store the component compiled ahead of time.
        #[arg(long, env = "WEFT_AOT_DIR", default_value = weft_protocol::runtime::DEFAULT_AOT_DIR)]
        aot_dir: PathBuf,
    },
    /// Removes an installed app.
    Uninstall {
        /// The app id.
        id: String,
    },
    /// Lists installed apps, each verified.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows a verified app: an installed app id, a package directory or an image.
    Info {
        /// An app id, a package directory or a .wimg image.
        target: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A verified app, as `verify`, `info` and `list` report it.
#[derive(Serialize)]
struct AppReport {
    id: String,
    version: String,
    name: String,
    location: String,
    key: String,
    files: usize,
    bytes: u64,
    capabilities: Vec<String>,
    imports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<ImageParams>,
}

impl AppReport {
    fn new(verified: &Verified) -> Self {
        let statement = &verified.statement;
        let manifest = &verified.inspection.manifest;
        Self {
            id: statement.id.clone(),
            version: statement.version.clone(),
            name: manifest.name.clone(),
            location: verified.inspection.location.clone(),
            key: statement.key.clone(),
            files: statement.files.iter().filter(|entry| entry.kind == EntryKind::File).count(),
            bytes: statement.files.iter().filter_map(|entry| entry.size).sum(),
            capabilities: manifest.capabilities.iter().map(ToString::to_string).collect(),
            imports: verified.inspection.component.imports.clone(),
            image: statement.image.clone(),
        }
    }

    fn print_text(&self) {
        println!("app           {} {} ({:?})", self.id, self.version, self.name);
        println!("location      {}", self.location);
        println!("signed by     key {}", self.key);
        println!(
            "content       {} files, {} bytes, all match the signature",
            self.files, self.bytes
        );
        let capabilities = if self.capabilities.is_empty() {
            "none".to_owned()
        } else {
            self.capabilities.join(", ")
        };
        println!("capabilities  {capabilities}");
        if let Some(image) = &self.image {
            println!(
                "image         {} ({} bytes, EROFS {} bytes)",
                image.file, image.size, image.data_size
            );
            println!("root hash     {} (dm-verity sha256, verified)", image.root_hash);
        }
    }
}

/// A spinner on stderr that draws only when stderr is a terminal.
fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn is_image(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == image::IMAGE_EXTENSION)
}

/// Verifies a package directory or an image.
fn verify_target(target: &Path, trusted: &TrustedKeys) -> Result<Verified> {
    if is_image(target) {
        let bar = spinner();
        let signature = image::signature_path_for(target);
        let result = image::verify_image(target, &signature, trusted, &|step| {
            bar.set_message(step.to_owned());
        });
        bar.finish_and_clear();
        Ok(result?)
    } else {
        Ok(verify_package(target, trusted)?)
    }
}

fn print_report(report: &AppReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        report.print_text();
    }
    Ok(())
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    let trusted = || {
        TrustedKeys::load_default(cli.trusted_keys.as_deref()).context("loading the trusted keys")
    };
    match cli.command {
        Command::Check { package } => {
            let inspection = inspect(&package)?;
            check_world(&package)?;
            println!("{inspection}");
        }
        Command::GenerateKey { private, public } => {
            let public = public.unwrap_or_else(|| private.with_extension("pub"));
            let id = keys::generate_key(&private, &public)?;
            println!(
                "generated key {id}: private {}, public {}",
                private.display(),
                public.display()
            );
        }
        Command::Sign { key, package } => {
            let key = keys::load_signing_key(&key)?;
            let statement = sign_package(&package, &key)?;
            println!(
                "signed {} {} ({} entries) with key {}",
                statement.id,
                statement.version,
                statement.files.len(),
                statement.key
            );
        }
        Command::Verify { target, id, json } => {
            let verified = verify_target(&target, &trusted()?)?;
            if let Some(declared) = id
                && declared != verified.statement.id
            {
                bail!(
                    "{}: signed for app id {}, not the declared {declared}",
                    target.display(),
                    verified.statement.id
                );
            }
            print_report(&AppReport::new(&verified), json)?;
        }
        Command::BuildImage { key, out, package } => {
            let key = keys::load_signing_key(&key)?;
            let bar = spinner();
            let built =
                image::build_image(&package, &key, &out, &|step| bar.set_message(step.to_owned()));
            bar.finish_and_clear();
            let built = built?;
            let params =
                built.statement.image.as_ref().context("the built statement has no image")?;
            println!("image      {}", built.image.display());
            println!("signature  {}", built.signature.display());
            println!("root hash  {}", params.root_hash);
        }
        Command::Install { package, replace, allow_downgrade, aot_dir } => {
            let root = store::first_writable(&store::store_roots())?;
            let options = InstallOptions { replace, allow_downgrade };
            let path = match store::install(&package, &root, &trusted()?, options)? {
                InstallOutcome::Installed(path) => {
                    println!("installed {}", path.display());
                    path
                }
                InstallOutcome::AlreadyInstalled(path) => {
                    println!("already installed: {}", path.display());
                    path
                }
                InstallOutcome::Replaced { path, previous } => {
                    println!("installed {} (replaced version {previous})", path.display());
                    path
                }
            };
            // The package is installed either way; without an artifact its
            // first launch has it compiled (`precompile`), which is slower
            // but not wrong.
            match store::precompile_installed(&path, &weft_aot::ArtifactStore::new(&aot_dir)) {
                Ok(artifact) => println!("precompiled {}", artifact.display()),
                Err(error) => eprintln!(
                    "weft-pack: warning: not precompiled ({error:#}); its first launch will compile it"
                ),
            }
        }
        Command::Precompile { aot_dir } => {
            let artifact = precompile_stdin(&weft_aot::ArtifactStore::new(&aot_dir))?;
            println!("{}", artifact.display());
        }
        Command::Uninstall { id } => {
            let path = store::uninstall(&store::store_roots(), &id)?;
            println!("removed {}", path.display());
        }
        Command::List { json } => list(&trusted()?, json)?,
        Command::Info { target, json } => {
            let trusted = trusted()?;
            let path = PathBuf::from(&target);
            let verified = if path.exists() {
                verify_target(&path, &trusted)?
            } else {
                let installed = store::find(&store::store_roots(), &target)?;
                store::verify_installed(&installed, &trusted)?
            };
            print_report(&AppReport::new(&verified), json)?;
        }
    }
    Ok(())
}

/// One row of `list --json`.
#[derive(Serialize)]
struct ListRow {
    path: String,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<AppReport>,
}

fn list(trusted: &TrustedKeys, json: bool) -> Result<()> {
    let rows: Vec<ListRow> = store::list(&store::store_roots(), trusted)
        .into_iter()
        .map(|listed| {
            let path = listed.path.display().to_string();
            match listed.verified {
                Ok(verified) => ListRow {
                    path,
                    verified: true,
                    error: None,
                    app: Some(AppReport::new(&verified)),
                },
                Err(error) => {
                    let error = format!("{:#}", anyhow::Error::from(error));
                    ListRow { path, verified: false, error: Some(error), app: None }
                }
            }
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no apps installed");
    }
    for row in rows {
        match (&row.app, &row.error) {
            (Some(app), _) => {
                println!("{:<32} {:<10} verified   {}", app.id, app.version, row.path);
            }
            (None, Some(error)) => {
                println!("{:<32} {:<10} INVALID    {}: {error}", "?", "?", row.path);
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// `precompile`: the component on standard input, compiled into `store`
/// unless an artifact that loads is already there.
fn precompile_stdin(store: &weft_aot::ArtifactStore) -> Result<PathBuf> {
    use std::io::Read;
    let mut component = Vec::new();
    std::io::stdin()
        .take(weft_aot::MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut component)
        .context("reading the component from standard input")?;
    if component.len() as u64 > weft_aot::MAX_COMPONENT_BYTES {
        bail!("the component is larger than {} bytes", weft_aot::MAX_COMPONENT_BYTES);
    }
    let engine = weft_aot::engine()?;
    let digest = weft_aot::component_digest(&component);
    if store.load(&engine, &digest).is_ok() {
        return Ok(store.artifact_path(&digest));
    }
    store.precompile(&engine, &component)
}
