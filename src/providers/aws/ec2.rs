//! EC2: `aws_ec2_instance` and `data "aws_ec2_instances"`.
//!
//! The legacy brokers and ZooKeeper nodes are adopted, not created: import them by instance
//! id (or find them with the data source by tags) and cutover refreshes their state, type,
//! zone, addresses, tags and volumes. Decommissioning them is a destroy: removing the blocks
//! (or `destroy -target`) plans their termination, which stops them first when
//! `stop_before_terminate` is set and waits for `terminated`.
//!
//! No termination starts before the cluster the instance serves is proven quiet: with a
//! `decommission_guard`, its check must pass in the same run; without one, an instance whose
//! address appears in a configured `cluster`'s bootstrap servers is terminated only when that
//! cluster is unreachable or received no writes and has no active consumer groups during a
//! short observation.
//!
//! Creating instances is supported too (AMI, type, subnet, tags), for completeness and tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{
    AttributeValue, Filter, Instance as Ec2Instance, InstanceStateName, InstanceType,
    ResourceType as Ec2ResourceType, Tag, TagSpecification,
};

use super::guard::{self, GuardSpec, Observation};
use super::support::{
    Poll, Stored, Timeouts, TimeoutsArgs, attributes, aws_error, is_not_found, keep_unset, known,
    string_value, tag_changes, tag_map, timeouts_block, wait_until,
};
use super::{Aws, Clients, PROVIDER};
use crate::config::schema::{AttributeSchema, BlockSchema, Nesting, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::kafka::connection::Cluster;
use crate::providers::{
    BoxFuture, DataSourceType, ProviderContext, ProviderError, ProviderResult, ResourceType,
};

pub const INSTANCE_TIMEOUTS: Timeouts = Timeouts::minutes(10, 10, 20);
/// EC2 takes at most 50 tags per resource.
const MAX_TAGS: usize = 50;
/// At most this many pages of DescribeInstances are read for the data source (1000 each).
const MAX_PAGES: usize = 100;

pub fn instance_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("instance_id", Type::String)
                .forces_replacement()
                .pattern(crate::config::validate::Pattern::Ec2InstanceId)
                .describe("adopt this existing instance (e.g. one found by data \"aws_ec2_instances\"): applying the new object reads it, never launches one"),
            AttributeSchema::optional("ami", Type::String)
                .also_computed()
                .forces_replacement()
                .describe("the image to launch (needed to create; read from adopted instances)")
                .pattern(crate::config::validate::Pattern::Ec2Id { prefix: "ami" }),
            AttributeSchema::optional("instance_type", Type::String)
                .also_computed()
                .describe("a change stops the instance, modifies it and starts it again")
                .pattern(crate::config::validate::Pattern::Ec2InstanceType),
            AttributeSchema::optional("subnet_id", Type::String)
                .describe("the subnet to launch in; read from an adopted instance; a change replaces the instance")
                .also_computed()
                .forces_replacement()
                .pattern(crate::config::validate::Pattern::Ec2Id { prefix: "subnet" }),
            AttributeSchema::optional("tags", Type::map_of(Type::String))
                .also_computed()
                .describe("tags; unset: the instance's tags are not managed")
                .validate(crate::config::validate::Validator::Length { min: 0, max: MAX_TAGS }),
            AttributeSchema::optional("stop_before_terminate", Type::Bool)
                .describe("stop the instance (and wait for stopped) before terminating it")
                .default_value(crate::config::value::Value::Bool(false)),
            AttributeSchema::computed("id", Type::String)
                .describe("the instance id"),
            AttributeSchema::computed("instance_state", Type::String)
                .describe("pending, running, stopping, stopped, ..."),
            AttributeSchema::computed("availability_zone", Type::String)
                .describe("the instance's availability zone"),
            AttributeSchema::computed("private_ip", Type::String)
                .describe("the primary private IPv4 address"),
            AttributeSchema::computed("private_dns", Type::String)
                .describe("the private DNS name"),
            AttributeSchema::computed("public_ip", Type::String)
                .describe("the public IPv4 address, if any"),
            AttributeSchema::computed("volumes", Type::list_of(Type::Any))
                .describe("attached EBS volumes: device_name, volume_id, size_gb, volume_type, delete_on_termination"),
        ],
        vec![
            guard::guard_block(),
            timeouts_block("time limits of create, update and delete (default 10m, 10m, 20m)"),
        ],
    )
}

/// An `aws_ec2_instance` as planned or stored, decoded once (the schema's validators judged
/// the configured values). Unknown values decode as `None`; a tag whose value is unknown is
/// left out until it is known. State keeps a sensitive argument (a tag, or the whole `tags`,
/// from a sensitive variable; `stop_before_terminate = var.x`) only as its keyed hash: those
/// are [`Stored`], and update and delete decide without their values.
#[derive(Debug, Default, serde::Deserialize)]
struct InstanceArgs {
    id: Option<String>,
    instance_id: Option<Stored<String>>,
    ami: Option<Stored<String>>,
    instance_type: Option<Stored<String>>,
    subnet_id: Option<Stored<String>>,
    tags: Option<Stored<BTreeMap<String, Option<Stored<String>>>>>,
    stop_before_terminate: Option<Stored<bool>>,
    private_ip: Option<String>,
    private_dns: Option<String>,
    public_ip: Option<String>,
    timeouts: Option<TimeoutsArgs>,
}

/// The tags an instance had, as state holds them: by key, the value (`None`: stored only as
/// a hash); `None` when state holds the whole map only as a hash.
type StoredTags = Option<BTreeMap<String, Option<String>>>;

impl InstanceArgs {
    fn of(value: &Value) -> ProviderResult<InstanceArgs> {
        if value.is_null() {
            return Ok(InstanceArgs::default());
        }
        crate::config::decode::decode("aws_ec2_instance", value).map_err(ProviderError::Invalid)
    }

    /// The managed tags with known values; `None` when unset (the instance's tags are not
    /// managed) or stored only as a hash.
    fn tags(&self) -> Option<BTreeMap<String, String>> {
        known(&self.tags).map(|tags| {
            tags.iter()
                .filter_map(|(key, value)| Some((key.clone(), known(value)?.clone())))
                .collect()
        })
    }

    /// The managed tags as stored (see [`StoredTags`]); unset: none.
    fn stored_tags(&self) -> StoredTags {
        match &self.tags {
            None => Some(BTreeMap::new()),
            Some(Stored::Hashed) => None,
            Some(Stored::Known(tags)) => Some(
                tags.iter()
                    .map(|(key, value)| (key.clone(), known(value).cloned()))
                    .collect(),
            ),
        }
    }

    /// Whether to stop the instance before terminating it. Stored only as a hash, the value
    /// is not known here: stopping first is never wrong, only slower, so it does.
    fn stop_before_terminate(&self) -> bool {
        match &self.stop_before_terminate {
            None => false,
            Some(Stored::Known(stop)) => *stop,
            Some(Stored::Hashed) => true,
        }
    }

    /// The addresses the instance is known by, for matching bootstrap servers.
    fn addresses(&self) -> Vec<String> {
        [&self.private_ip, &self.private_dns, &self.public_ip]
            .into_iter()
            .flatten()
            .filter(|address| !address.is_empty())
            .cloned()
            .collect()
    }

    /// The `timeouts` block over [`INSTANCE_TIMEOUTS`].
    fn timeouts(&self) -> ProviderResult<Timeouts> {
        Timeouts::decoded(self.timeouts.as_ref(), INSTANCE_TIMEOUTS)
    }
}

/// Tag keys to remove and tags to set, going from the tags as stored to `after`: a tag
/// whose stored value is only a hash is set again when it stays (it may have changed), and
/// removed when it goes.
fn stored_tag_changes(
    before: &BTreeMap<String, Option<String>>,
    after: &BTreeMap<String, String>,
) -> (Vec<String>, BTreeMap<String, String>) {
    let known_before: BTreeMap<String, String> = before
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), value.clone()?)))
        .collect();
    let (mut removed, set) = tag_changes(&known_before, after);
    removed.extend(
        before
            .iter()
            .filter(|(key, value)| value.is_none() && !after.contains_key(*key))
            .map(|(key, _)| key.clone()),
    );
    removed.sort();
    (removed, set)
}

/// The tags of a live instance, by key.
fn live_tags(instance: &Ec2Instance) -> BTreeMap<String, Option<String>> {
    instance
        .tags()
        .iter()
        .filter_map(|tag| {
            Some((
                tag.key()?.to_owned(),
                Some(tag.value().unwrap_or_default().to_owned()),
            ))
        })
        .collect()
}

fn state_of(instance: &Ec2Instance) -> Option<&InstanceStateName> {
    instance.state().and_then(|state| state.name())
}

/// The host of a `host:port` bootstrap server (IPv6 in brackets allowed).
fn host_of(server: &str) -> &str {
    let server = server.trim();
    if let Some(rest) = server.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match server.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => server,
    }
}

pub struct Instance {
    aws: Arc<Aws>,
    schema: Schema,
}

impl Instance {
    pub fn new(aws: Arc<Aws>) -> Self {
        Instance {
            aws,
            schema: instance_schema(),
        }
    }

    /// The instance, unless it is gone, terminated or shutting down.
    async fn live(&self, clients: &Clients, id: &str) -> ProviderResult<Option<Ec2Instance>> {
        Ok(self.describe(clients, id).await?.filter(|instance| {
            !matches!(
                state_of(instance),
                Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
            )
        }))
    }

    async fn describe(&self, clients: &Clients, id: &str) -> ProviderResult<Option<Ec2Instance>> {
        match clients
            .ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
        {
            Ok(described) => Ok(described
                .reservations()
                .iter()
                .flat_map(|reservation| reservation.instances())
                .find(|instance| instance.instance_id() == Some(id))
                .cloned()),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(aws_error(&format!("reading EC2 instance {id}"), error)),
        }
    }

    /// The instance's attributes; arguments that are not remote (`stop_before_terminate`, the
    /// guard, timeouts) come from `config`, and what it leaves unset stays unset.
    async fn attributes_of(
        &self,
        clients: &Clients,
        instance: &Ec2Instance,
        config: &Value,
    ) -> ProviderResult<Value> {
        let id = instance.instance_id().unwrap_or_default().to_owned();
        let mappings = instance.block_device_mappings();
        let volume_ids: Vec<String> = mappings
            .iter()
            .filter_map(|m| m.ebs().and_then(|ebs| ebs.volume_id()).map(str::to_owned))
            .collect();
        let mut sizes: BTreeMap<String, (Option<i32>, Option<String>)> = BTreeMap::new();
        if !volume_ids.is_empty() {
            let described = clients
                .ec2
                .describe_volumes()
                .set_volume_ids(Some(volume_ids))
                .send()
                .await
                .map_err(|error| aws_error(&format!("reading the volumes of {id}"), error))?;
            for volume in described.volumes() {
                if let Some(volume_id) = volume.volume_id() {
                    sizes.insert(
                        volume_id.to_owned(),
                        (
                            volume.size(),
                            volume.volume_type().map(|t| t.as_str().to_owned()),
                        ),
                    );
                }
            }
        }
        let volumes = mappings
            .iter()
            .filter_map(|mapping| {
                let ebs = mapping.ebs()?;
                let volume_id = ebs.volume_id()?.to_owned();
                let (size, kind) = sizes.get(&volume_id).cloned().unwrap_or_default();
                Some(Value::Map(BTreeMap::from([
                    (
                        "device_name".to_owned(),
                        string_value(mapping.device_name()),
                    ),
                    ("volume_id".to_owned(), Value::String(volume_id)),
                    (
                        "size_gb".to_owned(),
                        size.map_or(Value::Null, |s| Value::int(i64::from(s))),
                    ),
                    ("volume_type".to_owned(), string_value(kind)),
                    (
                        "delete_on_termination".to_owned(),
                        ebs.delete_on_termination().map_or(Value::Null, Value::Bool),
                    ),
                ])))
            })
            .collect();
        // Passed on as the configuration (or state) writes them, sensitive marks included.
        let kept = |name: &str| {
            crate::config::decode::reference(config, name)
                .filter(|v| !v.is_unknown())
                .unwrap_or(Value::Null)
        };
        let live = Value::Map(BTreeMap::from([
            ("id".to_owned(), Value::String(id)),
            ("instance_id".to_owned(), kept("instance_id")),
            ("ami".to_owned(), string_value(instance.image_id())),
            (
                "instance_type".to_owned(),
                string_value(instance.instance_type().map(|t| t.as_str().to_owned())),
            ),
            ("subnet_id".to_owned(), string_value(instance.subnet_id())),
            (
                "tags".to_owned(),
                tag_map(instance.tags().iter().filter_map(|tag| {
                    Some((
                        tag.key()?.to_owned(),
                        tag.value().unwrap_or_default().to_owned(),
                    ))
                })),
            ),
            (
                "stop_before_terminate".to_owned(),
                kept("stop_before_terminate"),
            ),
            ("decommission_guard".to_owned(), kept("decommission_guard")),
            ("timeouts".to_owned(), kept("timeouts")),
            (
                "instance_state".to_owned(),
                string_value(state_of(instance).map(|s| s.as_str().to_owned())),
            ),
            (
                "availability_zone".to_owned(),
                string_value(instance.placement().and_then(|p| p.availability_zone())),
            ),
            (
                "private_ip".to_owned(),
                string_value(instance.private_ip_address()),
            ),
            (
                "private_dns".to_owned(),
                string_value(instance.private_dns_name()),
            ),
            (
                "public_ip".to_owned(),
                string_value(instance.public_ip_address()),
            ),
            ("volumes".to_owned(), Value::List(volumes)),
        ]));
        Ok(if config.as_map().is_some() {
            keep_unset(config, live)
        } else {
            live
        })
    }

    /// Waits until the instance reaches `target`.
    async fn wait_state(
        &self,
        context: &ProviderContext,
        clients: &Clients,
        id: &str,
        target: InstanceStateName,
        timeout: Duration,
    ) -> ProviderResult<Option<Ec2Instance>> {
        let what = format!("waiting for EC2 instance {id} to be {}", target.as_str());
        wait_until(
            context,
            &what,
            timeout,
            clients.settings.poll_interval,
            || async {
                let instance = self.describe(clients, id).await?;
                let state = instance.as_ref().and_then(state_of).cloned();
                match (instance, state) {
                    (None, _) if target == InstanceStateName::Terminated => Ok(Poll::Done(None)),
                    (None, _) => Err(ProviderError::Failed(format!(
                        "{what}: the instance no longer exists"
                    ))),
                    (Some(instance), Some(state)) if state == target => {
                        Ok(Poll::Done(Some(instance)))
                    }
                    (Some(_), Some(InstanceStateName::Terminated)) => Err(ProviderError::Failed(
                        format!("{what}: the instance was terminated"),
                    )),
                    (Some(_), state) => Ok(Poll::Waiting(
                        state.map_or("no state".to_owned(), |s| s.as_str().to_owned()),
                    )),
                }
            },
        )
        .await
    }

    /// Checks that terminating the instance leaves no Kafka cluster without brokers while it
    /// is in use; returns the evidence to report. `args` is `prior` decoded.
    async fn check_decommission(
        &self,
        context: &ProviderContext,
        id: &str,
        prior: &Value,
        args: &InstanceArgs,
    ) -> ProviderResult<Option<String>> {
        if let Some(spec) = GuardSpec::of(prior)? {
            let observation = self.aws.guards.observe(context, &spec).await?;
            return guard::verdict(&spec, id, &observation).map(Some);
        }
        // No guard: refuse only when the instance serves a configured cluster that is
        // reachable and in use.
        let own = args.addresses();
        if own.is_empty() {
            return Ok(None);
        }
        let mut evidence = Vec::new();
        for (address, value) in &context.connections.clusters {
            let Ok(cluster) = Cluster::from_value(value) else {
                continue;
            };
            let serves = cluster.servers.iter().any(|server| {
                own.iter()
                    .any(|mine| host_of(server).eq_ignore_ascii_case(mine))
            });
            if !serves {
                continue;
            }
            let spec = GuardSpec {
                cluster: address.clone(),
                observe_for: guard::UNGUARDED_OBSERVE_FOR,
                selection: guard::Selection::default(),
                require_reachable: false,
            };
            let observation = self.aws.guards.observe(context, &spec).await?;
            if observation.busy() {
                return Err(ProviderError::Failed(format!(
                    "refusing to terminate {id}: it is a broker of {address}, which is still in use: {}; stop its producers and consumers first, or add a decommission_guard block to say how to check it",
                    observation.describe(address)
                )));
            }
            evidence.push(match observation {
                Observation::Unreachable(_) => format!("{address} is unreachable"),
                other => other.describe(address),
            });
        }
        Ok((!evidence.is_empty()).then(|| evidence.join("; ")))
    }
}

impl ResourceType for Instance {
    fn type_name(&self) -> &'static str {
        "aws_ec2_instance"
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The guard's cluster is stored by its address, like every cluster reference.
    fn canonical_config(&self, config: &Value) -> Option<Value> {
        guard::with_canonical_guard(config)
    }

    fn plan(&self, _prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        Timeouts::of(&attributes(&planned), INSTANCE_TIMEOUTS)?;
        if crate::config::decode::reference(&planned, "decommission_guard")
            .is_some_and(|guard| guard.is_wholly_known())
        {
            GuardSpec::of(&planned)?;
        }
        Ok(planned)
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            // Only the id: a refresh must not fail on another stored argument, such as a
            // sensitive tag that state keeps only as its keyed hash.
            #[derive(serde::Deserialize)]
            struct StoredId {
                id: Option<String>,
            }
            let stored: Option<StoredId> = crate::config::decode::decode("aws_ec2_instance", prior)
                .map_err(ProviderError::Invalid)?;
            let id = stored.and_then(|stored| stored.id).ok_or_else(|| {
                ProviderError::Invalid("reading aws_ec2_instance: id is required".to_owned())
            })?;
            let clients = self.aws.clients(context).await?;
            match self.describe(&clients, &id).await? {
                Some(instance) if state_of(&instance) != Some(&InstanceStateName::Terminated) => {
                    self.attributes_of(&clients, &instance, prior)
                        .await
                        .map(Some)
                }
                _ => Ok(None),
            }
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let args = InstanceArgs::of(planned)?;
            let timeouts = args.timeouts()?;
            let clients = self.aws.clients(context).await?;
            let resumed = context
                .resumed
                .as_ref()
                .and_then(|handle| handle.get("id"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            let resumed = match resumed {
                Some(id) => self.live(&clients, &id).await?.map(|_| id),
                None => None,
            };
            if resumed.is_none()
                && let Some(adopted) = known(&args.instance_id).cloned()
            {
                // Adoption: the instance exists already; it is read, never launched.
                return match self.live(&clients, &adopted).await? {
                    Some(instance) => self.attributes_of(&clients, &instance, planned).await,
                    None => Err(ProviderError::Failed(format!(
                        "cannot adopt EC2 instance {adopted}: it does not exist or is terminated (instance_id adopts an existing instance; it never launches one)"
                    ))),
                };
            }
            let id = match resumed {
                Some(id) => id,
                None => {
                    let (Some(ami), Some(kind)) = (known(&args.ami), known(&args.instance_type))
                    else {
                        return Err(ProviderError::Invalid(
                            "creating an aws_ec2_instance needs ami and instance_type; to adopt an existing instance, import it by id instead".to_owned(),
                        ));
                    };
                    let mut request = clients
                        .ec2
                        .run_instances()
                        .image_id(ami)
                        .instance_type(InstanceType::from(kind.as_str()))
                        .min_count(1)
                        .max_count(1);
                    if let Some(subnet) = known(&args.subnet_id) {
                        request = request.subnet_id(subnet);
                    }
                    let tags = args.tags().unwrap_or_default();
                    if !tags.is_empty() {
                        let mut specification =
                            TagSpecification::builder().resource_type(Ec2ResourceType::Instance);
                        for (key, value) in &tags {
                            specification =
                                specification.tags(Tag::builder().key(key).value(value).build());
                        }
                        request = request.tag_specifications(specification.build());
                    }
                    let launched = request.send().await.map_err(|error| {
                        aws_error(&format!("launching an instance of {ami}"), error)
                    })?;
                    let id = launched
                        .instances()
                        .first()
                        .and_then(|instance| instance.instance_id())
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            ProviderError::Failed("RunInstances returned no instance".to_owned())
                        })?;
                    context
                        .intent
                        .record(
                            serde_json::json!({ "id": id }),
                            format!("launching EC2 instance {id}"),
                        )
                        .await
                        .map_err(ProviderError::Failed)?;
                    id
                }
            };
            let instance = self
                .wait_state(
                    context,
                    &clients,
                    &id,
                    InstanceStateName::Running,
                    timeouts.create,
                )
                .await?
                .ok_or_else(|| ProviderError::Failed(format!("EC2 instance {id} disappeared")))?;
            self.attributes_of(&clients, &instance, planned).await
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let (before, after) = (InstanceArgs::of(prior)?, InstanceArgs::of(planned)?);
            let id = before.id.clone().ok_or_else(|| {
                ProviderError::Invalid("updating aws_ec2_instance: id is required".to_owned())
            })?;
            let timeouts = after.timeouts()?;
            let clients = self.aws.clients(context).await?;
            if let Some(wanted) = after.tags() {
                // Stored only as a hash, the old tags are the instance's own.
                let stored = match before.stored_tags() {
                    Some(stored) => stored,
                    None => self
                        .describe(&clients, &id)
                        .await?
                        .as_ref()
                        .map(live_tags)
                        .unwrap_or_default(),
                };
                let (removed, set) = stored_tag_changes(&stored, &wanted);
                if !removed.is_empty() {
                    let mut request = clients.ec2.delete_tags().resources(&id);
                    for key in removed {
                        request = request.tags(Tag::builder().key(key).build());
                    }
                    request
                        .send()
                        .await
                        .map_err(|e| aws_error(&format!("removing tags of {id}"), e))?;
                }
                if !set.is_empty() {
                    let mut request = clients.ec2.create_tags().resources(&id);
                    for (key, value) in set {
                        request = request.tags(Tag::builder().key(key).value(value).build());
                    }
                    request
                        .send()
                        .await
                        .map_err(|e| aws_error(&format!("tagging {id}"), e))?;
                }
            }
            if let Some(kind) = known(&after.instance_type).cloned()
                && known(&before.instance_type) != Some(&kind)
                && let instance = self.describe(&clients, &id).await?.ok_or_else(|| {
                    ProviderError::Failed(format!("EC2 instance {id} no longer exists"))
                })?
                // Stored only as a hash, the old type is not known here: the instance's own
                // says whether it changes.
                && !(matches!(before.instance_type, Some(Stored::Hashed))
                    && instance.instance_type().map(InstanceType::as_str) == Some(kind.as_str()))
            {
                let was_running = state_of(&instance) == Some(&InstanceStateName::Running);
                if was_running {
                    (context.progress)(&format!("stopping {id} to change its type to {kind}"));
                    clients
                        .ec2
                        .stop_instances()
                        .instance_ids(&id)
                        .send()
                        .await
                        .map_err(|e| aws_error(&format!("stopping {id}"), e))?;
                    self.wait_state(
                        context,
                        &clients,
                        &id,
                        InstanceStateName::Stopped,
                        timeouts.update,
                    )
                    .await?;
                }
                clients
                    .ec2
                    .modify_instance_attribute()
                    .instance_id(&id)
                    .instance_type(AttributeValue::builder().value(&kind).build())
                    .send()
                    .await
                    .map_err(|e| aws_error(&format!("changing the type of {id} to {kind}"), e))?;
                if was_running {
                    clients
                        .ec2
                        .start_instances()
                        .instance_ids(&id)
                        .send()
                        .await
                        .map_err(|e| aws_error(&format!("starting {id}"), e))?;
                    self.wait_state(
                        context,
                        &clients,
                        &id,
                        InstanceStateName::Running,
                        timeouts.update,
                    )
                    .await?;
                }
            }
            let instance = self.describe(&clients, &id).await?.ok_or_else(|| {
                ProviderError::Failed(format!("EC2 instance {id} no longer exists"))
            })?;
            self.attributes_of(&clients, &instance, planned).await
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let args = InstanceArgs::of(prior)?;
            let id = args
                .id
                .clone()
                .or_else(|| {
                    context
                        .resumed
                        .as_ref()
                        .and_then(|handle| handle.get("id"))
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                })
                .ok_or_else(|| {
                    ProviderError::Failed(
                        "terminating aws_ec2_instance: neither state nor a recorded intent holds its id".to_owned(),
                    )
                })?;
            let timeouts = args.timeouts()?;
            let clients = self.aws.clients(context).await?;
            let Some(instance) = self.describe(&clients, &id).await? else {
                return Ok(());
            };
            let state = state_of(&instance).cloned();
            if state == Some(InstanceStateName::Terminated) {
                return Ok(());
            }
            // An instance already on its way out was let go by an earlier run's guard.
            if state != Some(InstanceStateName::ShuttingDown) {
                if let Some(evidence) = self.check_decommission(context, &id, prior, &args).await? {
                    (context.progress)(&format!("decommission check passed: {evidence}"));
                }
                context
                    .intent
                    .record(
                        serde_json::json!({ "id": id }),
                        format!("terminating EC2 instance {id}"),
                    )
                    .await
                    .map_err(ProviderError::Failed)?;
                let stop_first = args.stop_before_terminate();
                if stop_first && state != Some(InstanceStateName::Stopped) {
                    (context.progress)(&format!("stopping {id} before terminating it"));
                    clients
                        .ec2
                        .stop_instances()
                        .instance_ids(&id)
                        .send()
                        .await
                        .map_err(|e| aws_error(&format!("stopping {id}"), e))?;
                    self.wait_state(
                        context,
                        &clients,
                        &id,
                        InstanceStateName::Stopped,
                        timeouts.delete,
                    )
                    .await?;
                }
                clients
                    .ec2
                    .terminate_instances()
                    .instance_ids(&id)
                    .send()
                    .await
                    .map_err(|e| aws_error(&format!("terminating {id}"), e))?;
            }
            self.wait_state(
                context,
                &clients,
                &id,
                InstanceStateName::Terminated,
                timeouts.delete,
            )
            .await
            .map(|_| ())
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            if !id.starts_with("i-") {
                return Err(ProviderError::Invalid(format!(
                    "import an aws_ec2_instance by its instance id (i-0123456789abcdef0), not \"{id}\""
                )));
            }
            let clients = self.aws.clients(context).await?;
            let instance = self
                .describe(&clients, id)
                .await?
                .filter(|instance| state_of(instance) != Some(&InstanceStateName::Terminated))
                .ok_or_else(|| ProviderError::Failed(format!("there is no EC2 instance {id}")))?;
            let config = if config.as_map().is_some() {
                config.clone()
            } else {
                Value::Null
            };
            self.attributes_of(&clients, &instance, &config).await
        })
    }
}

// =============================================================================================
// data "aws_ec2_instances"

pub fn instances_data_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("instance_tags", Type::map_of(Type::String))
                .describe("tags the instances must have (all of them, exact values)"),
            AttributeSchema::optional("instance_state_names", Type::list_of(Type::String))
                .describe("states to include (default [\"running\"])")
                .one_of(&[
                    "pending",
                    "running",
                    "shutting-down",
                    "terminated",
                    "stopping",
                    "stopped",
                ]),
            AttributeSchema::computed("ids", Type::list_of(Type::String))
                .describe("instance ids, sorted"),
            AttributeSchema::computed("private_ips", Type::list_of(Type::String))
                .describe("private IPs in the order of ids"),
            AttributeSchema::computed("instances", Type::map_of(Type::Any)).describe(
                "by id: instance_type, availability_zone, private_ip, private_dns, state, tags",
            ),
        ],
        vec![BlockSchema {
            name: "filter",
            nesting: Nesting::List,
            required: false,
            schema: Schema::new(
                vec![
                    AttributeSchema::required("name", Type::String)
                        .describe("a DescribeInstances filter name, e.g. vpc-id or tag:Role"),
                    AttributeSchema::required("values", Type::list_of(Type::String))
                        .describe("the values the filter matches (any of them)")
                        .validate(crate::config::validate::Validator::Length { min: 1, max: 200 }),
                ],
                Vec::new(),
            ),
            description: "further DescribeInstances filters",
        }],
    )
    // Without either it would list every instance of the account.
    .at_least_one_of(&["instance_tags", "filter"])
}

const INSTANCES: &str = "data \"aws_ec2_instances\"";

/// The data source's arguments, decoded once after its schema judged them (a data source is
/// read with every value known).
#[derive(Debug, serde::Deserialize)]
struct InstancesArgs {
    instance_tags: Option<BTreeMap<String, String>>,
    instance_state_names: Option<Vec<String>>,
    filter: Option<Vec<FilterArgs>>,
}

#[derive(Debug, serde::Deserialize)]
struct FilterArgs {
    name: String,
    values: Vec<String>,
}

pub struct InstancesData {
    aws: Arc<Aws>,
    schema: Schema,
}

impl InstancesData {
    pub fn new(aws: Arc<Aws>) -> Self {
        InstancesData {
            aws,
            schema: instances_data_schema(),
        }
    }
}

impl DataSourceType for InstancesData {
    fn type_name(&self) -> &'static str {
        "aws_ec2_instances"
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let map = attributes(config);
            let args: InstancesArgs =
                crate::config::decode::decode_checked(INSTANCES, &self.schema, config)
                    .map_err(ProviderError::Invalid)?;
            let mut filters = Vec::new();
            for (key, value) in args.instance_tags.unwrap_or_default() {
                filters.push(
                    Filter::builder()
                        .name(format!("tag:{key}"))
                        .values(value)
                        .build(),
                );
            }
            let states = args
                .instance_state_names
                .unwrap_or_else(|| vec!["running".to_owned()]);
            let mut state_filter = Filter::builder().name("instance-state-name");
            for state in &states {
                state_filter = state_filter.values(state);
            }
            filters.push(state_filter.build());
            for filter in args.filter.unwrap_or_default() {
                let mut built = Filter::builder().name(filter.name);
                for value in filter.values {
                    built = built.values(value);
                }
                filters.push(built.build());
            }
            let clients = self.aws.clients(context).await?;
            let mut found: BTreeMap<String, Ec2Instance> = BTreeMap::new();
            let mut token: Option<String> = None;
            for page in 0.. {
                if page == MAX_PAGES {
                    return Err(ProviderError::Failed(format!(
                        "data \"aws_ec2_instances\": more than {MAX_PAGES} pages of instances match; narrow the filters"
                    )));
                }
                let described = clients
                    .ec2
                    .describe_instances()
                    .set_filters(Some(filters.clone()))
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|error| aws_error("listing EC2 instances", error))?;
                for instance in described.reservations().iter().flat_map(|r| r.instances()) {
                    if let Some(id) = instance.instance_id() {
                        found.insert(id.to_owned(), instance.clone());
                    }
                }
                token = described
                    .next_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            let mut object = map;
            object.insert(
                "ids".to_owned(),
                Value::List(found.keys().map(Value::string).collect()),
            );
            object.insert(
                "private_ips".to_owned(),
                Value::List(
                    found
                        .values()
                        .map(|i| string_value(i.private_ip_address()))
                        .collect(),
                ),
            );
            object.insert(
                "instances".to_owned(),
                Value::Map(
                    found
                        .iter()
                        .map(|(id, instance)| {
                            (
                                id.clone(),
                                Value::Map(BTreeMap::from([
                                    ("id".to_owned(), Value::string(id)),
                                    (
                                        "instance_type".to_owned(),
                                        string_value(
                                            instance.instance_type().map(|t| t.as_str().to_owned()),
                                        ),
                                    ),
                                    (
                                        "availability_zone".to_owned(),
                                        string_value(
                                            instance
                                                .placement()
                                                .and_then(|p| p.availability_zone()),
                                        ),
                                    ),
                                    (
                                        "private_ip".to_owned(),
                                        string_value(instance.private_ip_address()),
                                    ),
                                    (
                                        "private_dns".to_owned(),
                                        string_value(instance.private_dns_name()),
                                    ),
                                    (
                                        "state".to_owned(),
                                        string_value(
                                            state_of(instance).map(|s| s.as_str().to_owned()),
                                        ),
                                    ),
                                    (
                                        "tags".to_owned(),
                                        tag_map(instance.tags().iter().filter_map(|tag| {
                                            Some((
                                                tag.key()?.to_owned(),
                                                tag.value().unwrap_or_default().to_owned(),
                                            ))
                                        })),
                                    ),
                                ])),
                            )
                        })
                        .collect(),
                ),
            );
            Ok(Value::Map(object))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_hosts_are_split_from_ports() {
        assert_eq!(host_of("10.0.1.10:9092"), "10.0.1.10");
        assert_eq!(host_of(" broker-1.corp:9092"), "broker-1.corp");
        assert_eq!(host_of("[fd00::1]:9092"), "fd00::1");
        assert_eq!(host_of("10.0.1.10"), "10.0.1.10");
    }

    /// The attributes of an instance as state holds them, `tags` and `stop_before_terminate`
    /// as given (a hash where they were sensitive).
    fn stored(tags: serde_json::Value, stop_before_terminate: serde_json::Value) -> Value {
        crate::state::sensitive::decode_attributes(&serde_json::json!({
            "id": "i-0123456789abcdef0",
            "instance_id": "i-0123456789abcdef0",
            "instance_type": "m5.large",
            "tags": tags,
            "stop_before_terminate": stop_before_terminate,
            "private_ip": "10.0.1.10",
            "timeouts": null,
        }))
    }

    fn hash() -> serde_json::Value {
        serde_json::json!({
            (crate::state::sensitive::SENSITIVE_MARKER): format!(
                "{}{}",
                crate::state::sensitive::HASH_PREFIX,
                "ab".repeat(32)
            )
        })
    }

    #[test]
    fn update_and_delete_decode_a_state_with_stored_hashes() {
        let prior = stored(
            serde_json::json!({ "Name": "broker-1", "Owner": hash() }),
            hash(),
        );
        let args = InstanceArgs::of(&prior).unwrap();
        assert_eq!(args.id.as_deref(), Some("i-0123456789abcdef0"));
        assert_eq!(args.addresses(), ["10.0.1.10"]);
        assert_eq!(
            known(&args.instance_type).map(String::as_str),
            Some("m5.large")
        );
        // A hashed tag is kept by key, without its value.
        assert_eq!(
            args.stored_tags(),
            Some(BTreeMap::from([
                ("Name".to_owned(), Some("broker-1".to_owned())),
                ("Owner".to_owned(), None),
            ]))
        );
        assert_eq!(
            args.tags(),
            Some(BTreeMap::from([("Name".to_owned(), "broker-1".to_owned())]))
        );
        // Not known: stopping first is the careful choice.
        assert!(args.stop_before_terminate());
        assert_eq!(args.timeouts().unwrap(), INSTANCE_TIMEOUTS);

        // The whole map stored as a hash is not a map of one tag.
        let args = InstanceArgs::of(&stored(hash(), serde_json::json!(false))).unwrap();
        assert_eq!(args.stored_tags(), None);
        assert_eq!(args.tags(), None);
        assert!(!args.stop_before_terminate());

        let args =
            InstanceArgs::of(&stored(serde_json::Value::Null, serde_json::Value::Null)).unwrap();
        assert_eq!(args.stored_tags(), Some(BTreeMap::new()));
        assert!(!args.stop_before_terminate());
    }

    #[test]
    fn a_tag_stored_as_a_hash_is_set_again_when_it_stays_and_removed_when_it_goes() {
        let before = BTreeMap::from([
            ("Name".to_owned(), Some("broker-1".to_owned())),
            ("Owner".to_owned(), None),
            ("Team".to_owned(), None),
        ]);
        let after = BTreeMap::from([
            ("Name".to_owned(), "broker-1".to_owned()),
            ("Owner".to_owned(), "platform".to_owned()),
        ]);
        let (removed, set) = stored_tag_changes(&before, &after);
        assert_eq!(removed, ["Team"]);
        assert_eq!(
            set,
            BTreeMap::from([("Owner".to_owned(), "platform".to_owned())])
        );
    }
}
