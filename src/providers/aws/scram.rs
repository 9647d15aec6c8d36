//! `aws_msk_scram_secret_association`: the Secrets Manager secrets an MSK cluster takes SCRAM
//! users from (BatchAssociateScramSecret / BatchDisassociateScramSecret, ListScramSecrets for
//! refresh). The resource owns the cluster's whole list: a secret associated outside cutover
//! shows as drift. MSK accepts only secrets whose name starts with `AmazonMSK_` and that are
//! encrypted with a customer-managed KMS key; the name is checked offline (the schema), the
//! key at plan time for secrets that already exist, and both again before the association
//! (MSK's own refusals name each secret). The secrets' values are never read here.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::support::{aws_error, is_not_found};
use super::{Aws, Clients, PROVIDER};
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::{Pattern, Validator};
use crate::config::value::Value;
use crate::providers::{BoxFuture, ProviderContext, ProviderError, ProviderResult, ResourceType};

pub const MSK_SCRAM_SECRET_ASSOCIATION: &str = "aws_msk_scram_secret_association";
/// The default key Secrets Manager encrypts with, which MSK refuses.
const DEFAULT_SECRETS_KEY: &str = "alias/aws/secretsmanager";
/// Secrets per Batch(Dis)AssociateScramSecret call.
const BATCH: usize = 10;

/// The arguments, decoded once (the schema's validators judged them).
#[derive(Debug, Clone, serde::Deserialize)]
struct AssociationSpec {
    cluster_arn: String,
    #[serde(default, deserialize_with = "crate::config::decode::null_as_default")]
    secret_arn_list: BTreeSet<String>,
}

impl AssociationSpec {
    fn from_value(value: &Value) -> ProviderResult<AssociationSpec> {
        crate::config::decode::decode(MSK_SCRAM_SECRET_ASSOCIATION, value)
            .map_err(ProviderError::Invalid)
    }
}

fn association_value(cluster_arn: &str, secrets: &BTreeSet<String>) -> Value {
    Value::Map(
        [
            ("cluster_arn".to_owned(), Value::string(cluster_arn)),
            ("id".to_owned(), Value::string(cluster_arn)),
            (
                "secret_arn_list".to_owned(),
                Value::set(secrets.iter().cloned().map(Value::string).collect()),
            ),
        ]
        .into_iter()
        .collect(),
    )
}

/// Why MSK would refuse a secret's key: none set (the default key) or an AWS-managed alias.
fn refused_key(secret: &str, key: Option<&str>) -> Option<String> {
    match key {
        None => Some(format!(
            "secret {secret} is encrypted with the default key {DEFAULT_SECRETS_KEY}: MSK needs a customer-managed KMS key (set kms_key_id on the aws_secretsmanager_secret)"
        )),
        Some(key) if key.starts_with("alias/aws/") || key.contains(":alias/aws/") => Some(format!(
            "secret {secret} is encrypted with the AWS-managed key {key}: MSK needs a customer-managed KMS key (set kms_key_id on the aws_secretsmanager_secret)"
        )),
        Some(_) => None,
    }
}

/// Checks each secret's KMS key through DescribeSecret (never its value).
async fn check_keys(clients: &Clients, secrets: &BTreeSet<String>) -> ProviderResult<()> {
    let mut problems = Vec::new();
    for secret in secrets {
        match clients
            .secrets
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
        {
            Ok(described) => problems.extend(refused_key(secret, described.kms_key_id())),
            Err(error) if is_not_found(&error) => {
                problems.push(format!("secret {secret} does not exist"));
            }
            Err(error) => return Err(aws_error(&format!("reading secret {secret}"), error)),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ProviderError::Invalid(problems.join("; ")))
    }
}

/// The secrets associated with the cluster, or `None` when the cluster does not exist.
async fn list_secrets(
    clients: &Clients,
    cluster_arn: &str,
) -> ProviderResult<Option<BTreeSet<String>>> {
    let mut secrets = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let answer = match clients
            .kafka
            .list_scram_secrets()
            .cluster_arn(cluster_arn)
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => {
                return Err(aws_error(
                    &format!("listing the SCRAM secrets of MSK cluster {cluster_arn}"),
                    error,
                ));
            }
        };
        secrets.extend(answer.secret_arn_list().iter().cloned());
        match answer.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(Some(secrets)),
        }
    }
}

/// MSK's per-secret refusals as one error.
fn unprocessed_error(
    action: &str,
    unprocessed: &[aws_sdk_kafka::types::UnprocessedScramSecret],
) -> ProviderResult<()> {
    if unprocessed.is_empty() {
        return Ok(());
    }
    let each: Vec<String> = unprocessed
        .iter()
        .map(|secret| {
            format!(
                "{} ({}: {})",
                secret.secret_arn().unwrap_or("a secret"),
                secret.error_code().unwrap_or("refused"),
                secret.error_message().unwrap_or("no reason given")
            )
        })
        .collect();
    Err(ProviderError::Failed(format!(
        "{action}: MSK refused {}",
        each.join("; ")
    )))
}

async fn associate(
    clients: &Clients,
    cluster_arn: &str,
    secrets: &BTreeSet<String>,
) -> ProviderResult<()> {
    let list: Vec<String> = secrets.iter().cloned().collect();
    let action = format!("associating SCRAM secrets with MSK cluster {cluster_arn}");
    for chunk in list.chunks(BATCH) {
        let answer = clients
            .kafka
            .batch_associate_scram_secret()
            .cluster_arn(cluster_arn)
            .set_secret_arn_list(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|error| aws_error(&action, error))?;
        unprocessed_error(&action, answer.unprocessed_scram_secrets())?;
    }
    Ok(())
}

async fn disassociate(
    clients: &Clients,
    cluster_arn: &str,
    secrets: &BTreeSet<String>,
) -> ProviderResult<()> {
    let list: Vec<String> = secrets.iter().cloned().collect();
    let action = format!("disassociating SCRAM secrets from MSK cluster {cluster_arn}");
    for chunk in list.chunks(BATCH) {
        let answer = match clients
            .kafka
            .batch_disassociate_scram_secret()
            .cluster_arn(cluster_arn)
            .set_secret_arn_list(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(answer) => answer,
            // The cluster is gone: nothing is associated with it any more.
            Err(error) if is_not_found(&error) => return Ok(()),
            Err(error) => return Err(aws_error(&action, error)),
        };
        // A secret no longer associated (removed outside cutover) is what we wanted.
        let refused: Vec<_> = answer
            .unprocessed_scram_secrets()
            .iter()
            .filter(|secret| secret.error_code() != Some("SecretNotAssociated"))
            .cloned()
            .collect();
        unprocessed_error(&action, &refused)?;
    }
    Ok(())
}

pub struct ScramSecretAssociation {
    aws: Arc<Aws>,
    schema: Schema,
}

impl ScramSecretAssociation {
    pub fn new(aws: Arc<Aws>) -> Self {
        ScramSecretAssociation {
            aws,
            schema: Schema::new(
                vec![
                    AttributeSchema::required("cluster_arn", Type::String)
                        .forces_replacement()
                        .describe("the MSK cluster, e.g. aws_msk_cluster.target.arn (SASL/SCRAM enabled)")
                        .pattern(Pattern::Arn { service: "kafka" }),
                    AttributeSchema::required("secret_arn_list", Type::set_of(Type::String))
                        .describe(
                            "the Secrets Manager secrets holding the SCRAM users (JSON with username and password), e.g. [aws_secretsmanager_secret.app.arn]; the complete list: others associated with the cluster are removed",
                        )
                        .pattern(Pattern::MskScramSecret)
                        .validate(Validator::Length { min: 1, max: 1000 }),
                    AttributeSchema::computed("id", Type::String).describe("the cluster ARN"),
                ],
                Vec::new(),
            ),
        }
    }
}

impl ResourceType for ScramSecretAssociation {
    fn type_name(&self) -> &'static str {
        MSK_SCRAM_SECRET_ASSOCIATION
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn plan(&self, _prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        let mut map = planned.as_map().cloned().unwrap_or_default();
        let id = map.get("cluster_arn").cloned().unwrap_or(Value::Unknown);
        map.insert("id".to_owned(), id);
        Ok(Value::Map(map))
    }

    /// The KMS key of every secret that exists already, at plan time.
    fn preview<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> Option<BoxFuture<'a, ProviderResult<Value>>> {
        Some(Box::pin(async move {
            let known: BTreeSet<String> = planned
                .as_map()
                .and_then(|map| map.get("secret_arn_list"))
                .and_then(Value::as_items)
                .unwrap_or_default()
                .iter()
                .filter_map(|item| item.peel().as_str().map(str::to_owned))
                .collect();
            if !known.is_empty() {
                let clients = self.aws.clients(context).await?;
                check_keys(&clients, &known).await?;
            }
            Ok(planned.clone())
        }))
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let spec = AssociationSpec::from_value(prior)?;
            let clients = self.aws.clients(context).await?;
            Ok(list_secrets(&clients, &spec.cluster_arn)
                .await?
                .map(|secrets| association_value(&spec.cluster_arn, &secrets)))
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let spec = AssociationSpec::from_value(planned)?;
            let clients = self.aws.clients(context).await?;
            check_keys(&clients, &spec.secret_arn_list).await?;
            associate(&clients, &spec.cluster_arn, &spec.secret_arn_list).await?;
            let live = list_secrets(&clients, &spec.cluster_arn)
                .await?
                .unwrap_or_default();
            Ok(association_value(&spec.cluster_arn, &live))
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let wanted = AssociationSpec::from_value(planned)?;
            let had = AssociationSpec::from_value(prior)?;
            let clients = self.aws.clients(context).await?;
            let added: BTreeSet<String> = wanted
                .secret_arn_list
                .difference(&had.secret_arn_list)
                .cloned()
                .collect();
            let removed: BTreeSet<String> = had
                .secret_arn_list
                .difference(&wanted.secret_arn_list)
                .cloned()
                .collect();
            if !added.is_empty() {
                check_keys(&clients, &added).await?;
                associate(&clients, &wanted.cluster_arn, &added).await?;
            }
            disassociate(&clients, &wanted.cluster_arn, &removed).await?;
            let live = list_secrets(&clients, &wanted.cluster_arn)
                .await?
                .unwrap_or_default();
            Ok(association_value(&wanted.cluster_arn, &live))
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let spec = AssociationSpec::from_value(prior)?;
            let clients = self.aws.clients(context).await?;
            disassociate(&clients, &spec.cluster_arn, &spec.secret_arn_list).await
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        _config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let clients = self.aws.clients(context).await?;
            match list_secrets(&clients, id).await? {
                Some(secrets) => Ok(association_value(id, &secrets)),
                None => Err(ProviderError::Failed(format!(
                    "MSK cluster {id} does not exist"
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::mock;

    use super::*;
    use crate::config::validate::check;
    use crate::providers::aws::support::mocked;

    const CLUSTER: &str = "arn:aws:kafka:us-east-1:123456789012:cluster/orders/1";
    const SECRET: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_app-AbCdEf";

    #[test]
    fn secret_names_must_carry_the_amazonmsk_prefix() {
        let validators = [Validator::Pattern(Pattern::MskScramSecret)];
        assert!(check("secret_arn_list", &Value::string(SECRET), &validators).is_empty());
        assert!(
            check(
                "secret_arn_list",
                &Value::string("AmazonMSK_app"),
                &validators
            )
            .is_empty()
        );
        let problems = check(
            "secret_arn_list",
            &Value::string("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf"),
            &validators,
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("starts with AmazonMSK_"),
            "{problems:?}"
        );
        let named = check("secret_arn_list", &Value::string("app"), &validators);
        assert_eq!(
            named[0].hint.as_deref(),
            Some("did you mean \"AmazonMSK_app\"?")
        );
    }

    #[test]
    fn default_and_aws_managed_keys_are_refused() {
        assert!(
            refused_key(SECRET, None)
                .unwrap()
                .contains("default key alias/aws/secretsmanager")
        );
        assert!(refused_key(SECRET, Some("alias/aws/secretsmanager")).is_some());
        assert!(
            refused_key(
                SECRET,
                Some("arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager")
            )
            .is_some()
        );
        assert!(refused_key(SECRET, Some("arn:aws:kms:us-east-1:123456789012:key/1234")).is_none());
        assert!(refused_key(SECRET, Some("alias/orders-msk")).is_none());
    }

    fn planned(secrets: &[&str]) -> Value {
        Value::Map(
            [
                ("cluster_arn".to_owned(), Value::string(CLUSTER)),
                (
                    "secret_arn_list".to_owned(),
                    Value::set(secrets.iter().map(|s| Value::string(*s)).collect()),
                ),
            ]
            .into_iter()
            .collect(),
        )
    }

    #[tokio::test]
    async fn a_throttled_association_is_retried_then_explained() {
        let described = mock!(aws_sdk_secretsmanager::Client::describe_secret)
            .sequence()
            .http_status(
                200,
                Some(format!(r#"{{"ARN":"{SECRET}","Name":"AmazonMSK_app","KmsKeyId":"arn:aws:kms:us-east-1:123456789012:key/1"}}"#)),
            )
            .build();
        let throttled = mock!(aws_sdk_kafka::Client::batch_associate_scram_secret)
            .sequence()
            .http_status(
                429,
                Some(
                    r#"{"__type":"TooManyRequestsException","message":"Too Many Requests"}"#.into(),
                ),
            )
            .times(mocked::ATTEMPTS as usize)
            .build();
        let aws = mocked::aws(mocked::clients(&[&throttled], &[&described], &[])).await;
        let error = ScramSecretAssociation::new(aws)
            .create(&mocked::context(), &planned(&[SECRET]))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "associating SCRAM secrets with MSK cluster {CLUSTER}: AWS throttled the request"
            )),
            "{error}"
        );
        assert_eq!(throttled.num_calls(), mocked::ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn a_partly_refused_disassociation_names_the_secret_and_ignores_those_already_gone() {
        let other = SECRET.replace("AmazonMSK_app", "AmazonMSK_gone");
        let partial = mock!(aws_sdk_kafka::Client::batch_disassociate_scram_secret)
            .sequence()
            .http_status(
                200,
                Some(format!(
                    r#"{{"clusterArn":"{CLUSTER}","unprocessedScramSecrets":[{{"secretArn":"{SECRET}","errorCode":"InternalFailure","errorMessage":"try again"}},{{"secretArn":"{other}","errorCode":"SecretNotAssociated","errorMessage":"not associated"}}]}}"#
                )),
            )
            .build();
        let aws = mocked::aws(mocked::clients(&[&partial], &[], &[])).await;
        let error = ScramSecretAssociation::new(aws)
            .delete(&mocked::context(), &planned(&[SECRET, &other]))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "disassociating SCRAM secrets from MSK cluster {CLUSTER}: MSK refused {SECRET} (InternalFailure: try again)"
            )
        );
    }
}
