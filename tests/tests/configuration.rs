//! Bad configuration: `godel-server` refuses it with exit code 78 (EX_CONFIG) and a message
//! naming the setting at fault; `check-config` prints a valid configuration without its secrets.

use godel_e2e::run_server_command;

#[tokio::test(flavor = "multi_thread")]
async fn check_config_with_a_short_jwt_secret_exits_78_naming_auth_jwt_secret() {
    let out = run_server_command(&["check-config"], &[("GODEL_JWT_SECRET", "short")]).await;
    assert_eq!(out.code, Some(78), "{out}");
    assert!(out.stderr.contains("auth.jwt_secret"), "{out}");
    assert!(
        !out.stderr.contains("short\""),
        "the secret is not echoed:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dev_gateway_count_that_is_not_a_number_exits_78_naming_the_key() {
    let out = run_server_command(&["check-config"], &[("GODEL_DEV_GATEWAYS", "abc")]).await;
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr.contains("server.dev_gateways") || out.stderr.contains("GODEL_DEV_GATEWAYS"),
        "the message names the setting:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_started_with_bad_configuration_exits_78_without_listening() {
    let out = run_server_command(
        &["--dev", "--addr", "127.0.0.1:0", "--data-dir", "data"],
        &[("GODEL_JWT_SECRET", "short")],
    )
    .await;
    assert_eq!(out.code, Some(78), "{out}");
    assert!(out.stderr.contains("auth.jwt_secret"), "{out}");
    assert!(!out.stdout.contains("listening"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_accepts_a_valid_configuration_and_redacts_the_secret() {
    let secret = "an-e2e-secret-that-is-long-enough-0123456789";
    let out = run_server_command(&["check-config"], &[("GODEL_JWT_SECRET", secret)]).await;
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("jwt_secret"), "{out}");
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "the secret never appears:\n{out}"
    );
}
