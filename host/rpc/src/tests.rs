use super::*;
use metacloud_queue::embedded::EmbeddedBus;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn typed_call_round_trips_and_errors_come_back_typed() {
    let bus = Arc::new(EmbeddedBus::new(4));
    let rpc = Rpc::new(bus.clone(), Duration::from_secs(2));
    let handler = serve(
        "conductor",
        |req: conductor::Request, _redelivered| async move {
            match req {
                conductor::Request::InstancesOnHost { host } if host == "h1" => {
                    Ok(Vec::<objects::InstanceStatus>::new())
                }
                _ => Err(RpcError::NotFound("no such host".into())),
            }
        },
    );
    use metacloud_queue::Bus;
    let _c = bus.serve(topics::CONDUCTOR, handler).await.unwrap();
    let ok: conductor::InstancesOnHost = rpc
        .call(
            topics::CONDUCTOR,
            &conductor::Request::InstancesOnHost { host: "h1".into() },
        )
        .await
        .unwrap();
    assert!(ok.is_empty());
    let err = rpc
        .call::<_, conductor::InstancesOnHost>(
            topics::CONDUCTOR,
            &conductor::Request::InstancesOnHost { host: "h2".into() },
        )
        .await
        .unwrap_err();
    assert_eq!(err, RpcError::NotFound("no such host".into()));
}

#[tokio::test]
async fn request_id_travels_with_the_message() {
    let bus = Arc::new(EmbeddedBus::new(4));
    let rpc = Rpc::new(bus.clone(), Duration::from_secs(2));
    let handler = serve("t", |_req: compute::Request, _| async move {
        Ok(current_request_id())
    });
    use metacloud_queue::Bus;
    let _c = bus.serve("t", handler).await.unwrap();
    let seen: String = with_request_id(
        "req-abc".into(),
        rpc.call("t", &compute::Request::ListDomains),
    )
    .await
    .unwrap();
    assert_eq!(seen, "req-abc");
}

#[test]
fn wire_format_is_method_and_args() {
    let v = serde_json::to_value(compute::Request::RebootInstance {
        uuid: "u".into(),
        hard: true,
    })
    .unwrap();
    assert_eq!(v["method"], "reboot_instance");
    assert_eq!(v["args"]["hard"], true);
}

#[test]
fn clearing_a_task_state_survives_the_wire() {
    let u = conductor::InstanceUpdate {
        uuid: "u".into(),
        host: "h".into(),
        vm_state: None,
        task_state: Some(None),
        power_state: None,
        expected_task_state: None,
        expected_vm_state: None,
        fault: None,
    };
    let back: conductor::InstanceUpdate =
        serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
    assert_eq!(back.task_state, Some(None));
    assert_eq!(back.expected_task_state, None);
}
