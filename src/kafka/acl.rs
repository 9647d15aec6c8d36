//! ACL and SCRAM-user admin calls (DescribeAcls, CreateAcls, DeleteAcls,
//! AlterUserScramCredentials): a thin safe wrapper over librdkafka's C API, which the `rdkafka`
//! crate does not cover. Every C object is owned by a guard that frees it; results are copied
//! into Rust values before the event that owns them is destroyed. Enum values coming back
//! from C are read as integers and checked (a Rust enum holding a value it does not declare
//! would be undefined behaviour), error codes likewise.
//!
//! librdkafka has no client-quota admin API (DescribeClientQuotas / AlterClientQuotas) in any
//! 2.x release, so quotas are not here.

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use crate::error::{OperationError, OperationResult};
use crate::kafka::connection::{BrokerVersion, Cluster, KafkaContext};

// The same symbols as in `rdkafka::bindings`, declared with `c_int` where the bindings return
// a Rust enum: the value is checked before it becomes one.
#[allow(clashing_extern_declarations)]
unsafe extern "C" {
    #[link_name = "rd_kafka_AclBinding_restype"]
    fn acl_binding_restype(acl: *const rdsys::rd_kafka_AclBinding_t) -> c_int;
    #[link_name = "rd_kafka_AclBinding_resource_pattern_type"]
    fn acl_binding_pattern_type(acl: *const rdsys::rd_kafka_AclBinding_t) -> c_int;
    #[link_name = "rd_kafka_AclBinding_operation"]
    fn acl_binding_operation(acl: *const rdsys::rd_kafka_AclBinding_t) -> c_int;
    #[link_name = "rd_kafka_AclBinding_permission_type"]
    fn acl_binding_permission_type(acl: *const rdsys::rd_kafka_AclBinding_t) -> c_int;
    #[link_name = "rd_kafka_event_error"]
    fn event_error(event: *mut rdsys::rd_kafka_event_t) -> c_int;
    #[link_name = "rd_kafka_error_code"]
    fn error_code(error: *const rdsys::rd_kafka_error_t) -> c_int;
}

/// librdkafka: the broker does not support the request (no ApiVersion for it).
const ERR_UNSUPPORTED_FEATURE: c_int = -165;
/// librdkafka: the request timed out.
const ERR_TIMED_OUT: c_int = -185;
/// Kafka: the broker has no authorizer configured.
const ERR_SECURITY_DISABLED: c_int = 54;
/// Kafka: the request or the type of request is not supported by the broker.
const ERR_UNSUPPORTED_VERSION: c_int = 35;
/// ACLs (KIP-140) arrived in Kafka 0.11.0.
pub const ACLS_SINCE: BrokerVersion = BrokerVersion(0, 11, 0);

/// What an ACL applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

/// How an ACL's resource name matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PatternKind {
    Literal,
    Prefixed,
}

/// What an ACL allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Allow,
    Deny,
}

/// Names as written in HCL and shown in plans, with their librdkafka values.
macro_rules! names {
    ($type:ident { $($variant:ident = $name:literal / $code:expr),* $(,)? }) => {
        impl $type {
            pub const ALL: &'static [$type] = &[$($type::$variant),*];
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            pub fn name(self) -> &'static str {
                match self { $($type::$variant => $name),* }
            }

            pub fn parse(text: &str) -> Option<$type> {
                match text { $($name => Some($type::$variant),)* _ => None }
            }

            fn code(self) -> c_int {
                match self { $($type::$variant => $code as c_int),* }
            }

            fn from_code(code: c_int) -> Option<$type> {
                $(if code == $code as c_int { return Some($type::$variant); })*
                None
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(ResourceKind {
    Topic = "topic" / rdsys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
    Group = "group" / rdsys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_GROUP,
    Cluster = "cluster" / rdsys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER,
    TransactionalId = "transactional_id" / rdsys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
});

names!(PatternKind {
    Literal = "literal" / rdsys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
    Prefixed = "prefixed" / rdsys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
});

names!(Operation {
    All = "all" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ALL,
    Read = "read" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_READ,
    Write = "write" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_WRITE,
    Create = "create" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_CREATE,
    Delete = "delete" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_DELETE,
    Alter = "alter" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ALTER,
    Describe = "describe" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_DESCRIBE,
    ClusterAction = "cluster_action" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
    DescribeConfigs = "describe_configs" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
    AlterConfigs = "alter_configs" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
    IdempotentWrite = "idempotent_write" / rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
});

names!(Permission {
    Allow = "allow" / rdsys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
    Deny = "deny" / rdsys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
});

impl Operation {
    /// Whether an ACL for `self` grants `wanted` (Kafka's implication rules: ALL grants
    /// everything; READ, WRITE, DELETE and ALTER grant DESCRIBE; ALTER_CONFIGS grants
    /// DESCRIBE_CONFIGS).
    pub fn implies(self, wanted: Operation) -> bool {
        self == wanted
            || self == Operation::All
            || (wanted == Operation::Describe
                && matches!(
                    self,
                    Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
                ))
            || (wanted == Operation::DescribeConfigs && self == Operation::AlterConfigs)
    }
}

/// The resource name of cluster ACLs.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// One ACL binding: `principal` from `host` may (or may not) do `operation` on the resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub resource_type: ResourceKind,
    pub pattern_type: PatternKind,
    pub resource_name: String,
    pub principal: String,
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// The id of a binding, as `import` takes it and `data "kafka_acls"` keys its map:
/// `RESOURCE_TYPE|PATTERN_TYPE|RESOURCE_NAME|PRINCIPAL|HOST|OPERATION|PERMISSION`.
impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|{}|{}|{}",
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.principal,
            self.host,
            self.operation,
            self.permission
        )
    }
}

impl AclBinding {
    /// Parses an id written by `Display`. The resource name may itself contain `|` (group
    /// names can): the two fields before it are taken from the left, the four after it from
    /// the right.
    pub fn parse_id(id: &str) -> Result<AclBinding, String> {
        let shape = "an ACL id is RESOURCE_TYPE|PATTERN_TYPE|RESOURCE_NAME|PRINCIPAL|HOST|OPERATION|PERMISSION, e.g. topic|literal|orders|User:alice|*|write|allow";
        let mut left = id.splitn(3, '|');
        let (Some(resource_type), Some(pattern_type), Some(rest)) =
            (left.next(), left.next(), left.next())
        else {
            return Err(format!("{id:?}: {shape}"));
        };
        let mut right = rest.rsplitn(5, '|');
        let (Some(permission), Some(operation), Some(host), Some(principal), Some(name)) = (
            right.next(),
            right.next(),
            right.next(),
            right.next(),
            right.next(),
        ) else {
            return Err(format!("{id:?}: {shape}"));
        };
        let field = |what: &str, value: &str, allowed: &[&str]| {
            format!(
                "{id:?}: {what} {value:?} is not one of {}",
                allowed.join(", ")
            )
        };
        Ok(AclBinding {
            resource_type: ResourceKind::parse(resource_type)
                .ok_or_else(|| field("resource type", resource_type, ResourceKind::NAMES))?,
            pattern_type: PatternKind::parse(pattern_type)
                .ok_or_else(|| field("pattern type", pattern_type, PatternKind::NAMES))?,
            resource_name: name.to_owned(),
            principal: principal.to_owned(),
            host: host.to_owned(),
            operation: Operation::parse(operation)
                .ok_or_else(|| field("operation", operation, Operation::NAMES))?,
            permission: Permission::parse(permission)
                .ok_or_else(|| field("permission", permission, Permission::NAMES))?,
        })
    }
}

/// Which bindings a describe or delete matches; `None` matches any value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceKind>,
    pub pattern_type: Option<PatternKind>,
    pub resource_name: Option<String>,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// Every binding.
    pub fn any() -> AclFilter {
        AclFilter::default()
    }

    /// Exactly this binding.
    pub fn exact(binding: &AclBinding) -> AclFilter {
        AclFilter {
            resource_type: Some(binding.resource_type),
            pattern_type: Some(binding.pattern_type),
            resource_name: Some(binding.resource_name.clone()),
            principal: Some(binding.principal.clone()),
            host: Some(binding.host.clone()),
            operation: Some(binding.operation),
            permission: Some(binding.permission),
        }
    }
}

/// The outcome of reading ACLs: the bindings, or why the cluster has none to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclsRead {
    Bindings(Vec<AclBinding>),
    /// The brokers have no ACL API (before 0.11) or no authorizer: the reason, for the plan.
    Unavailable(String),
}

// ---------------------------------------------------------------------------------------------
// Owned C objects

struct Queue(*mut rdsys::rd_kafka_queue_t);

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_queue_new and not freed elsewhere. A request still in
        // flight keeps its own reference to the queue.
        unsafe { rdsys::rd_kafka_queue_destroy(self.0) }
    }
}

struct Event(*mut rdsys::rd_kafka_event_t);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: returned by rd_kafka_queue_poll, owned by us, freed once.
        unsafe { rdsys::rd_kafka_event_destroy(self.0) }
    }
}

struct Options(*mut rdsys::rd_kafka_AdminOptions_t);

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_AdminOptions_new; librdkafka copies options into each
        // request, so freeing them after the call is allowed.
        unsafe { rdsys::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

/// Bindings or binding filters made by us, freed together.
struct OwnedBindings(Vec<*mut rdsys::rd_kafka_AclBinding_t>);

impl Drop for OwnedBindings {
    fn drop(&mut self) {
        for binding in self.0.drain(..) {
            // SAFETY: each was created by rd_kafka_AclBinding(Filter)_new and is freed once;
            // librdkafka copies the bindings it is given.
            unsafe { rdsys::rd_kafka_AclBinding_destroy(binding) }
        }
    }
}

struct OwnedAlterations(Vec<*mut rdsys::rd_kafka_UserScramCredentialAlteration_t>);

impl Drop for OwnedAlterations {
    fn drop(&mut self) {
        for alteration in self.0.drain(..) {
            // SAFETY: created by rd_kafka_UserScramCredentialUpsertion_new, freed once;
            // librdkafka copies the alterations it is given.
            unsafe { rdsys::rd_kafka_UserScramCredentialAlteration_destroy(alteration) }
        }
    }
}

/// A C string owned by librdkafka, copied (`""` for NULL).
///
/// # Safety
/// `text` is NULL or a valid NUL-terminated string that outlives the call.
unsafe fn copied(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: per the function's contract.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

fn c_string(what: &str, text: &str) -> Result<CString, AdminError> {
    CString::new(text).map_err(|_| AdminError::Invalid(format!("{what} contains a NUL character")))
}

/// Why an admin call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AdminError {
    Invalid(String),
    /// A librdkafka or broker error code with its message.
    Code(c_int, String),
}

impl AdminError {
    fn into_operation_error(self, cluster: &Cluster, what: &str) -> OperationError {
        match self {
            AdminError::Invalid(message) => {
                OperationError::Invalid(format!("{}: {what}: {message}", cluster.address))
            }
            AdminError::Code(_, message) => {
                OperationError::Failed(format!("{}: {what}: {message}", cluster.address))
            }
        }
    }

    fn means_no_acls(&self) -> bool {
        matches!(
            self,
            AdminError::Code(
                ERR_UNSUPPORTED_FEATURE | ERR_SECURITY_DISABLED | ERR_UNSUPPORTED_VERSION,
                _
            )
        )
    }
}

/// # Safety
/// `error` is NULL or a valid `rd_kafka_error_t` that outlives the call.
unsafe fn error_of(error: *const rdsys::rd_kafka_error_t) -> Result<(), AdminError> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: per the function's contract.
    let (code, message) = unsafe {
        (
            error_code(error),
            copied(rdsys::rd_kafka_error_string(error)),
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(AdminError::Code(code, message))
    }
}

/// Runs one admin request on `client` and waits for its result event: `start` enqueues the
/// request with the options and the reply queue it is given.
fn run(
    client: &BaseConsumer<KafkaContext>,
    timeout: Duration,
    expected_event: c_int,
    start: impl FnOnce(
        *mut rdsys::rd_kafka_t,
        *const rdsys::rd_kafka_AdminOptions_t,
        *mut rdsys::rd_kafka_queue_t,
    ),
) -> Result<Event, AdminError> {
    let rk = client.client().native_ptr();
    // SAFETY: `rk` is the live client handle `client` owns for the whole call.
    let queue = Queue(unsafe { rdsys::rd_kafka_queue_new(rk) });
    // SAFETY: as above.
    let options = Options(unsafe {
        rdsys::rd_kafka_AdminOptions_new(rk, rdsys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ANY)
    });
    if queue.0.is_null() || options.0.is_null() {
        return Err(AdminError::Invalid(
            "librdkafka could not allocate a request".to_owned(),
        ));
    }
    let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let mut errstr = [0 as c_char; 512];
    // SAFETY: `options` is valid, `errstr` is writable for its length.
    let set = unsafe {
        rdsys::rd_kafka_AdminOptions_set_request_timeout(
            options.0,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if set != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka NUL-terminates errstr.
        return Err(AdminError::Invalid(unsafe { copied(errstr.as_ptr()) }));
    }
    start(rk, options.0, queue.0);
    // The request times out after `timeout` on its own; the margin covers the queueing.
    let wait_ms = timeout_ms.saturating_add(10_000);
    // SAFETY: `queue` is valid; the returned event (or NULL) is ours.
    let event = unsafe { rdsys::rd_kafka_queue_poll(queue.0, wait_ms) };
    if event.is_null() {
        return Err(AdminError::Code(
            ERR_TIMED_OUT,
            format!("no answer within {timeout:?}"),
        ));
    }
    let event = Event(event);
    // SAFETY: `event` is valid until dropped.
    let (kind, code) = unsafe { (rdsys::rd_kafka_event_type(event.0), event_error(event.0)) };
    if code != 0 {
        // SAFETY: as above; the string belongs to the event and is copied.
        let message = unsafe { copied(rdsys::rd_kafka_event_error_string(event.0)) };
        return Err(AdminError::Code(code, message));
    }
    if kind != expected_event {
        return Err(AdminError::Invalid(format!(
            "librdkafka answered with event type {kind}, expected {expected_event}"
        )));
    }
    Ok(event)
}

/// Makes a binding (`filter`: a filter, where `None` fields match anything) owned by `owned`.
// The arguments are those of rd_kafka_AclBinding(Filter)_new, in its order.
#[allow(clippy::too_many_arguments)]
fn new_binding(
    owned: &mut OwnedBindings,
    filter: bool,
    resource_type: c_int,
    pattern_type: c_int,
    resource_name: Option<&str>,
    principal: Option<&str>,
    host: Option<&str>,
    operation: c_int,
    permission: c_int,
) -> Result<*mut rdsys::rd_kafka_AclBinding_t, AdminError> {
    let name = resource_name
        .map(|n| c_string("resource name", n))
        .transpose()?;
    let principal = principal.map(|p| c_string("principal", p)).transpose()?;
    let host = host.map(|h| c_string("host", h)).transpose()?;
    let as_ptr = |text: &Option<CString>| text.as_ref().map_or(ptr::null(), |t| t.as_ptr());
    // The enum arguments are values librdkafka declares (from our own tables), so the casts
    // to the bindings' enums below are sound.
    let restype = resource_type_enum(resource_type)?;
    let pattern = pattern_type_enum(pattern_type)?;
    let op = operation_enum(operation)?;
    let perm = permission_enum(permission)?;
    let mut errstr = [0 as c_char; 512];
    // SAFETY: the strings are NUL-terminated and live until after the call (librdkafka copies
    // them); `errstr` is writable for its length.
    let binding = unsafe {
        if filter {
            rdsys::rd_kafka_AclBindingFilter_new(
                restype,
                as_ptr(&name),
                pattern,
                as_ptr(&principal),
                as_ptr(&host),
                op,
                perm,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        } else {
            rdsys::rd_kafka_AclBinding_new(
                restype,
                as_ptr(&name),
                pattern,
                as_ptr(&principal),
                as_ptr(&host),
                op,
                perm,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        }
    };
    if binding.is_null() {
        // SAFETY: librdkafka NUL-terminates errstr.
        return Err(AdminError::Invalid(unsafe { copied(errstr.as_ptr()) }));
    }
    owned.0.push(binding);
    Ok(binding)
}

fn resource_type_enum(code: c_int) -> Result<rdsys::rd_kafka_ResourceType_t, AdminError> {
    use rdsys::rd_kafka_ResourceType_t as T;
    [
        T::RD_KAFKA_RESOURCE_ANY,
        T::RD_KAFKA_RESOURCE_TOPIC,
        T::RD_KAFKA_RESOURCE_GROUP,
        T::RD_KAFKA_RESOURCE_BROKER,
        T::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
    ]
    .into_iter()
    .find(|value| *value as c_int == code)
    .ok_or_else(|| AdminError::Invalid(format!("resource type {code}")))
}

fn pattern_type_enum(code: c_int) -> Result<rdsys::rd_kafka_ResourcePatternType_t, AdminError> {
    use rdsys::rd_kafka_ResourcePatternType_t as T;
    [
        T::RD_KAFKA_RESOURCE_PATTERN_ANY,
        T::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        T::RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
    ]
    .into_iter()
    .find(|value| *value as c_int == code)
    .ok_or_else(|| AdminError::Invalid(format!("pattern type {code}")))
}

fn operation_enum(code: c_int) -> Result<rdsys::rd_kafka_AclOperation_t, AdminError> {
    use rdsys::rd_kafka_AclOperation_t as T;
    [
        T::RD_KAFKA_ACL_OPERATION_ANY,
        T::RD_KAFKA_ACL_OPERATION_ALL,
        T::RD_KAFKA_ACL_OPERATION_READ,
        T::RD_KAFKA_ACL_OPERATION_WRITE,
        T::RD_KAFKA_ACL_OPERATION_CREATE,
        T::RD_KAFKA_ACL_OPERATION_DELETE,
        T::RD_KAFKA_ACL_OPERATION_ALTER,
        T::RD_KAFKA_ACL_OPERATION_DESCRIBE,
        T::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        T::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        T::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        T::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
    ]
    .into_iter()
    .find(|value| *value as c_int == code)
    .ok_or_else(|| AdminError::Invalid(format!("operation {code}")))
}

fn permission_enum(code: c_int) -> Result<rdsys::rd_kafka_AclPermissionType_t, AdminError> {
    use rdsys::rd_kafka_AclPermissionType_t as T;
    [
        T::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
        T::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        T::RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
    ]
    .into_iter()
    .find(|value| *value as c_int == code)
    .ok_or_else(|| AdminError::Invalid(format!("permission {code}")))
}

const ANY_RESOURCE: c_int = rdsys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY as c_int;
const ANY_PATTERN: c_int =
    rdsys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY as c_int;
const ANY_OPERATION: c_int = rdsys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY as c_int;
const ANY_PERMISSION: c_int =
    rdsys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY as c_int;

fn new_filter(
    owned: &mut OwnedBindings,
    filter: &AclFilter,
) -> Result<*mut rdsys::rd_kafka_AclBinding_t, AdminError> {
    new_binding(
        owned,
        true,
        filter
            .resource_type
            .map_or(ANY_RESOURCE, ResourceKind::code),
        filter.pattern_type.map_or(ANY_PATTERN, PatternKind::code),
        filter.resource_name.as_deref(),
        filter.principal.as_deref(),
        filter.host.as_deref(),
        filter.operation.map_or(ANY_OPERATION, Operation::code),
        filter.permission.map_or(ANY_PERMISSION, Permission::code),
    )
}

/// Copies a binding librdkafka returned; `None` for values cutover does not know (an
/// operation newer than librdkafka, which it reports as UNKNOWN).
///
/// # Safety
/// `binding` is a valid binding that outlives the call.
unsafe fn read_binding(binding: *const rdsys::rd_kafka_AclBinding_t) -> Option<AclBinding> {
    // SAFETY: per the function's contract; strings are copied.
    unsafe {
        Some(AclBinding {
            resource_type: ResourceKind::from_code(acl_binding_restype(binding))?,
            pattern_type: PatternKind::from_code(acl_binding_pattern_type(binding))?,
            resource_name: copied(rdsys::rd_kafka_AclBinding_name(binding)),
            principal: copied(rdsys::rd_kafka_AclBinding_principal(binding)),
            host: copied(rdsys::rd_kafka_AclBinding_host(binding)),
            operation: Operation::from_code(acl_binding_operation(binding))?,
            permission: Permission::from_code(acl_binding_permission_type(binding))?,
        })
    }
}

/// # Safety
/// `array` points to `count` valid bindings that outlive the call (or `count` is 0).
unsafe fn read_bindings(
    array: *mut *const rdsys::rd_kafka_AclBinding_t,
    count: usize,
) -> Vec<AclBinding> {
    if array.is_null() || count == 0 {
        return Vec::new();
    }
    // SAFETY: per the function's contract.
    let slice = unsafe { std::slice::from_raw_parts(array, count) };
    let mut bindings: Vec<AclBinding> = slice
        .iter()
        // SAFETY: each element is a valid binding owned by the result.
        .filter_map(|binding| unsafe { read_binding(*binding) })
        .collect();
    bindings.sort();
    bindings
}

fn client(cluster: &Cluster) -> OperationResult<BaseConsumer<KafkaContext>> {
    cluster.consumer(&[])
}

/// Whether the declared broker version predates the ACL API.
pub fn predates_acls(cluster: &Cluster) -> bool {
    cluster
        .broker_version
        .is_some_and(|version| version < ACLS_SINCE)
}

/// The bindings `filter` matches, sorted; or why the cluster has none to read. Blocking.
pub fn describe_acls(cluster: &Cluster, filter: &AclFilter) -> OperationResult<AclsRead> {
    // librdkafka sends DescribeAcls to the controller, which brokers before 0.10 do not
    // name: asking would only time out. A declared version says it without a request.
    if let Some(version) = cluster.broker_version.filter(|_| predates_acls(cluster)) {
        return Ok(AclsRead::Unavailable(format!(
            "{}: this cluster has no ACLs to read: its brokers ({version}) predate the ACL API (Kafka {ACLS_SINCE})",
            cluster.address
        )));
    }
    let client = client(cluster)?;
    let mut owned = OwnedBindings(Vec::new());
    let result = new_filter(&mut owned, filter).and_then(|filter| {
        let event = run(
            &client,
            cluster.timeout,
            rdsys::RD_KAFKA_EVENT_DESCRIBEACLS_RESULT,
            // SAFETY: all pointers are valid for the call; librdkafka copies the filter.
            |rk, options, queue| unsafe {
                rdsys::rd_kafka_DescribeAcls(rk, filter, options, queue)
            },
        )?;
        // SAFETY: `event` is a DescribeAcls result (checked by `run`); the bindings it holds
        // are copied before it is dropped.
        unsafe {
            let result = rdsys::rd_kafka_event_DescribeAcls_result(event.0);
            if result.is_null() {
                return Err(AdminError::Invalid(
                    "DescribeAcls returned no result".to_owned(),
                ));
            }
            let mut count = 0;
            let array = rdsys::rd_kafka_DescribeAcls_result_acls(result, &mut count);
            Ok(read_bindings(array, count))
        }
    });
    match result {
        Ok(bindings) => Ok(AclsRead::Bindings(bindings)),
        Err(error) if error.means_no_acls() => {
            let AdminError::Code(_, reason) = error else {
                unreachable!("means_no_acls holds only for codes")
            };
            Ok(AclsRead::Unavailable(format!(
                "{}: this cluster has no ACLs to read: {reason}",
                cluster.address
            )))
        }
        Err(error) => Err(error.into_operation_error(cluster, "cannot describe ACLs")),
    }
}

/// The bindings `filter` matches; an error when the cluster has no ACL API. Blocking.
pub fn describe_acls_required(
    cluster: &Cluster,
    filter: &AclFilter,
) -> OperationResult<Vec<AclBinding>> {
    match describe_acls(cluster, filter)? {
        AclsRead::Bindings(bindings) => Ok(bindings),
        AclsRead::Unavailable(reason) => Err(OperationError::Failed(reason)),
    }
}

/// Creates `bindings` (creating one that exists is not an error). Blocking.
pub fn create_acls(cluster: &Cluster, bindings: &[AclBinding]) -> OperationResult<()> {
    if bindings.is_empty() {
        return Ok(());
    }
    let client = client(cluster)?;
    let mut owned = OwnedBindings(Vec::new());
    let result = (|| {
        for binding in bindings {
            new_binding(
                &mut owned,
                false,
                binding.resource_type.code(),
                binding.pattern_type.code(),
                Some(&binding.resource_name),
                Some(&binding.principal),
                Some(&binding.host),
                binding.operation.code(),
                binding.permission.code(),
            )?;
        }
        let array = owned.0.as_mut_ptr();
        let count = owned.0.len();
        let event = run(
            &client,
            cluster.timeout,
            rdsys::RD_KAFKA_EVENT_CREATEACLS_RESULT,
            // SAFETY: `array` holds `count` valid bindings, alive until `owned` drops after
            // this call; librdkafka copies them.
            |rk, options, queue| unsafe {
                rdsys::rd_kafka_CreateAcls(rk, array, count, options, queue)
            },
        )?;
        // SAFETY: a CreateAcls result (checked by `run`), read before `event` drops.
        unsafe {
            let result = rdsys::rd_kafka_event_CreateAcls_result(event.0);
            if result.is_null() {
                return Err(AdminError::Invalid(
                    "CreateAcls returned no result".to_owned(),
                ));
            }
            let mut count = 0;
            let results = rdsys::rd_kafka_CreateAcls_result_acls(result, &mut count);
            if !results.is_null() {
                for each in std::slice::from_raw_parts(results, count) {
                    error_of(rdsys::rd_kafka_acl_result_error(*each))?;
                }
            }
        }
        Ok(())
    })();
    result.map_err(|error| error.into_operation_error(cluster, "cannot create ACLs"))
}

/// Deletes the bindings each filter matches; returns those deleted. Blocking.
pub fn delete_acls(cluster: &Cluster, filters: &[AclFilter]) -> OperationResult<Vec<AclBinding>> {
    if filters.is_empty() {
        return Ok(Vec::new());
    }
    let client = client(cluster)?;
    let mut owned = OwnedBindings(Vec::new());
    let result = (|| {
        for filter in filters {
            new_filter(&mut owned, filter)?;
        }
        let array = owned.0.as_mut_ptr();
        let count = owned.0.len();
        let event = run(
            &client,
            cluster.timeout,
            rdsys::RD_KAFKA_EVENT_DELETEACLS_RESULT,
            // SAFETY: `array` holds `count` valid filters, alive until `owned` drops after
            // this call; librdkafka copies them.
            |rk, options, queue| unsafe {
                rdsys::rd_kafka_DeleteAcls(rk, array, count, options, queue)
            },
        )?;
        let mut deleted = Vec::new();
        // SAFETY: a DeleteAcls result (checked by `run`), read before `event` drops.
        unsafe {
            let result = rdsys::rd_kafka_event_DeleteAcls_result(event.0);
            if result.is_null() {
                return Err(AdminError::Invalid(
                    "DeleteAcls returned no result".to_owned(),
                ));
            }
            let mut count = 0;
            let responses = rdsys::rd_kafka_DeleteAcls_result_responses(result, &mut count);
            if !responses.is_null() {
                for response in std::slice::from_raw_parts(responses, count) {
                    error_of(rdsys::rd_kafka_DeleteAcls_result_response_error(*response))?;
                    let mut matching = 0;
                    let array = rdsys::rd_kafka_DeleteAcls_result_response_matching_acls(
                        *response,
                        &mut matching,
                    );
                    deleted.extend(read_bindings(array, matching));
                }
            }
        }
        deleted.sort();
        Ok(deleted)
    })();
    result.map_err(|error| error.into_operation_error(cluster, "cannot delete ACLs"))
}

/// SCRAM mechanisms a user's credential can be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

/// Creates or replaces the SCRAM credential of `user` (AlterUserScramCredentials, Kafka 2.7+;
/// the salt is random). Blocking. Used by the tests to make restricted users; MSK keeps its
/// SCRAM users in Secrets Manager instead.
pub fn upsert_scram_user(
    cluster: &Cluster,
    user: &str,
    mechanism: ScramMechanism,
    password: &str,
) -> OperationResult<()> {
    let client = client(cluster)?;
    let result = (|| {
        let name = c_string("user name", user)?;
        let mechanism = match mechanism {
            ScramMechanism::Sha256 => {
                rdsys::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_256
            }
            ScramMechanism::Sha512 => {
                rdsys::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512
            }
        };
        let mut owned = OwnedAlterations(Vec::new());
        // SAFETY: `name` is NUL-terminated, the password slice is valid for its length, a NULL
        // salt asks librdkafka for a random one; all are copied.
        let alteration = unsafe {
            rdsys::rd_kafka_UserScramCredentialUpsertion_new(
                name.as_ptr(),
                mechanism,
                8192,
                password.as_ptr(),
                password.len(),
                ptr::null(),
                0,
            )
        };
        if alteration.is_null() {
            return Err(AdminError::Invalid(
                "librdkafka refused the SCRAM credential".to_owned(),
            ));
        }
        owned.0.push(alteration);
        let array = owned.0.as_mut_ptr();
        let event = run(
            &client,
            cluster.timeout,
            rdsys::RD_KAFKA_EVENT_ALTERUSERSCRAMCREDENTIALS_RESULT,
            // SAFETY: `array` holds one valid alteration, alive until `owned` drops.
            |rk, options, queue| unsafe {
                rdsys::rd_kafka_AlterUserScramCredentials(rk, array, 1, options, queue)
            },
        )?;
        // SAFETY: an AlterUserScramCredentials result (checked by `run`), read before `event`
        // drops.
        unsafe {
            let result = rdsys::rd_kafka_event_AlterUserScramCredentials_result(event.0);
            if result.is_null() {
                return Err(AdminError::Invalid(
                    "AlterUserScramCredentials returned no result".to_owned(),
                ));
            }
            let mut count = 0;
            let responses =
                rdsys::rd_kafka_AlterUserScramCredentials_result_responses(result, &mut count);
            if !responses.is_null() {
                for response in std::slice::from_raw_parts(responses, count) {
                    error_of(
                        rdsys::rd_kafka_AlterUserScramCredentials_result_response_error(*response),
                    )?;
                }
            }
        }
        Ok(())
    })();
    result.map_err(|error| error.into_operation_error(cluster, "cannot set a SCRAM credential"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceKind::Group,
            pattern_type: PatternKind::Prefixed,
            resource_name: name.to_owned(),
            principal: "User:alice".to_owned(),
            host: "*".to_owned(),
            operation: Operation::Read,
            permission: Permission::Allow,
        }
    }

    #[test]
    fn an_acl_id_round_trips_even_when_the_group_name_holds_the_separator() {
        for name in ["billing", "odd|group|name", ""] {
            let acl = binding(name);
            assert_eq!(AclBinding::parse_id(&acl.to_string()), Ok(acl));
        }
        assert_eq!(
            binding("billing").to_string(),
            "group|prefixed|billing|User:alice|*|read|allow"
        );
    }

    #[test]
    fn a_malformed_acl_id_names_the_bad_field() {
        let error =
            AclBinding::parse_id("topic|literal|orders|User:alice|*|scribble|allow").unwrap_err();
        assert!(
            error.contains("operation \"scribble\" is not one of all, read, write"),
            "{error}"
        );
        let error = AclBinding::parse_id("topic|orders").unwrap_err();
        assert!(
            error.contains("an ACL id is RESOURCE_TYPE|PATTERN_TYPE"),
            "{error}"
        );
    }

    #[test]
    fn every_name_maps_to_a_distinct_librdkafka_value_and_back() {
        for kind in ResourceKind::ALL {
            assert_eq!(ResourceKind::from_code(kind.code()), Some(*kind));
            assert_eq!(ResourceKind::parse(kind.name()), Some(*kind));
        }
        for operation in Operation::ALL {
            assert_eq!(Operation::from_code(operation.code()), Some(*operation));
        }
        for permission in Permission::ALL {
            assert_eq!(Permission::from_code(permission.code()), Some(*permission));
        }
        for pattern in PatternKind::ALL {
            assert_eq!(PatternKind::from_code(pattern.code()), Some(*pattern));
        }
        // Values librdkafka uses for "unknown" or "any" are not bindings cutover reads.
        assert_eq!(Operation::from_code(0), None);
        assert_eq!(Operation::from_code(ANY_OPERATION), None);
        assert_eq!(ResourceKind::from_code(ANY_RESOURCE), None);
    }

    #[test]
    fn operations_imply_describe_as_kafka_does() {
        assert!(Operation::Write.implies(Operation::Describe));
        assert!(Operation::All.implies(Operation::Write));
        assert!(Operation::AlterConfigs.implies(Operation::DescribeConfigs));
        assert!(!Operation::Read.implies(Operation::Write));
        assert!(!Operation::Describe.implies(Operation::Read));
    }

    #[test]
    fn filters_and_bindings_are_made_and_freed_without_a_broker() {
        let mut owned = OwnedBindings(Vec::new());
        new_filter(&mut owned, &AclFilter::any()).unwrap();
        new_filter(&mut owned, &AclFilter::exact(&binding("billing"))).unwrap();
        assert_eq!(owned.0.len(), 2);
        // A binding may not hold ANY values: librdkafka's own check, surfaced as an error.
        let refused = new_binding(
            &mut owned,
            false,
            ANY_RESOURCE,
            PatternKind::Literal.code(),
            Some("x"),
            Some("User:a"),
            Some("*"),
            Operation::Read.code(),
            Permission::Allow.code(),
        );
        assert!(
            matches!(refused, Err(AdminError::Invalid(_))),
            "{refused:?}"
        );
        assert_eq!(owned.0.len(), 2);
        let nul = new_filter(
            &mut owned,
            &AclFilter {
                principal: Some("User:\0".to_owned()),
                ..AclFilter::any()
            },
        );
        assert_eq!(
            nul,
            Err(AdminError::Invalid(
                "principal contains a NUL character".to_owned()
            ))
        );
        let copied_back: Vec<_> = owned
            .0
            .iter()
            // SAFETY: the bindings are valid until `owned` drops.
            .map(|binding| unsafe { read_binding(*binding) })
            .collect();
        // The ANY filter reads back as nothing cutover knows; the exact one as itself.
        assert_eq!(copied_back, vec![None, Some(binding("billing"))]);
    }
}
