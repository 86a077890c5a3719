//! Tenants, users, quotas, networks and pagination.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{Env, code};

const CREATE_TENANT: &str = "mutation($p: TenantProfileInput!, $q: QuotaInput) { createTenant(profile: $p, quota: $q) { id name uscc status quota { networks nodes storageGib } } }";
const CREATE_NETWORK: &str = "mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { id name engine version consensus crypto validators observers storageGib placement phase tenantId } }";

fn profile(name: &str, uscc: &str) -> Value {
    json!({"name": name, "uscc": uscc, "contactName": "李四", "contactPhone": "0731-88880000",
           "contactEmail": "it@example.cn"})
}

both!(tenants_validate_their_profile, |env: Env| async move {
    let good = yuelu_api::service::uscc::with_check_character("91430100MA4L0003X").unwrap();
    let d = env
        .ok(
            &env.admin,
            CREATE_TENANT,
            json!({"p": profile("岳麓山科技有限公司", &good)}),
        )
        .await;
    let t = &d["createTenant"];
    assert_eq!(t["status"], "ACTIVE");
    assert_eq!(
        t["quota"],
        json!({"networks": 5, "nodes": 20, "storageGib": 500})
    );

    let bad_cases = [
        (profile("x", &good), "name"),
        (profile("另一家公司", "91430100MA4L0003"), "uscc"),
        (profile("另一家公司", "91430100MA4L00030"), "uscc"),
        (
            json!({"name": "另一家公司", "uscc": good, "contactName": "王五", "contactPhone": "abc", "contactEmail": "a@b.cn"}),
            "contactPhone",
        ),
        (
            json!({"name": "另一家公司", "uscc": good, "contactName": "王五", "contactPhone": "13800000000", "contactEmail": "not-an-email"}),
            "contactEmail",
        ),
        (
            json!({"name": "另一家公司", "uscc": good, "contactName": "", "contactPhone": "13800000000", "contactEmail": "a@b.cn"}),
            "contactName",
        ),
        (json!({"name": "另一家公司"}), "uscc"),
    ];
    for (p, field) in bad_cases {
        let r = env.gql(&env.admin, CREATE_TENANT, json!({"p": p})).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{p} => {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], field, "{r}");
    }
    let r = env
        .gql(&env.admin, CREATE_TENANT, json!({"p": profile("岳麓山科技有限公司", &yuelu_api::service::uscc::with_check_character("91430100MA4L0004X").unwrap())}))
        .await;
    assert_eq!(code(&r), "CONFLICT", "same name: {r}");
    let r = env
        .gql(
            &env.admin,
            CREATE_TENANT,
            json!({"p": profile("别的公司", &good)}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "same code: {r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("credit code")
    );
    let r = env
        .gql(&env.admin, CREATE_TENANT, json!({"p": profile("配额公司", &yuelu_api::service::uscc::with_check_character("91430100MA4L0005X").unwrap()), "q": {"networks": -1, "nodes": 1, "storageGib": 1}}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");

    // Nothing invalid was written: one tenant.
    let d = env
        .ok(&env.admin, "{ tenants { totalCount } }", json!({}))
        .await;
    assert_eq!(d["tenants"]["totalCount"], 1);

    // Updates change only what is given.
    let id = t["id"].as_str().unwrap();
    let d = env
        .ok(&env.admin, "mutation($id: ID!, $p: TenantProfileInput!) { updateTenant(id: $id, profile: $p) { name contactName contactEmail } }",
            json!({"id": id, "p": {"contactName": "赵六"}}))
        .await;
    assert_eq!(
        d["updateTenant"],
        json!({"name": "岳麓山科技有限公司", "contactName": "赵六", "contactEmail": "it@example.cn"})
    );
});

both!(
    quotas_are_enforced_at_creation_and_usage_shown,
    |env: Env| async move {
        let t = env.tenant("湘江物流有限公司", "91430100MA4L0006X").await;
        let admin = env.user(Some(&t), "xj-admin", "TENANT_ADMIN").await;
        env.ok(
            &env.admin,
            "mutation($id: ID!, $q: QuotaInput!) { setTenantQuota(id: $id, quota: $q) { id } }",
            json!({"id": t, "q": {"networks": 2, "nodes": 6, "storageGib": 100}}),
        )
        .await;

        let d = env
            .ok(
                &admin,
                CREATE_NETWORK,
                json!({"i": {"name": "trace-1", "validators": 4, "storageGib": 10}}),
            )
            .await;
        let n = &d["createNetwork"];
        assert_eq!(n["engine"], "YUELU");
        assert_eq!(n["consensus"], "TENDERMINT");
        assert_eq!(n["crypto"], "ECDSA_P256");
        assert_eq!(n["phase"], "PENDING");
        assert_eq!(n["placement"], "local");
        assert_eq!(n["tenantId"], t.as_str());
        assert!(n["version"].is_string());

        // 4 + 3 nodes > 6.
        let r = env
            .gql(
                &admin,
                CREATE_NETWORK,
                json!({"i": {"name": "trace-2", "validators": 3, "storageGib": 10}}),
            )
            .await;
        assert_eq!(code(&r), "QUOTA_EXCEEDED", "{r}");
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("nodes: 7 > 6")
        );
        // 2 nodes x 40 GiB + 40 > 100.
        let r = env.gql(&admin, CREATE_NETWORK, json!({"i": {"name": "trace-2", "validators": 1, "observers": 1, "storageGib": 40}})).await;
        assert_eq!(code(&r), "QUOTA_EXCEEDED", "{r}");
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("storage GiB: 120 > 100")
        );
        let d = env.ok(&admin, CREATE_NETWORK, json!({"i": {"name": "trace-2", "validators": 1, "observers": 1, "storageGib": 10}})).await;
        let second = d["createNetwork"]["id"].as_str().unwrap().to_owned();
        let r = env
            .gql(
                &admin,
                CREATE_NETWORK,
                json!({"i": {"name": "trace-3", "validators": 1, "storageGib": 1}}),
            )
            .await;
        assert_eq!(code(&r), "QUOTA_EXCEEDED", "networks: {r}");

        let usage = "query($id: ID!) { tenant(id: $id) { quota { networks nodes storageGib } usage { networks nodes storageGib } } }";
        let d = env.ok(&admin, usage, json!({"id": t})).await;
        assert_eq!(
            d["tenant"]["usage"],
            json!({"networks": 2, "nodes": 6, "storageGib": 60})
        );

        // Deleting frees quota.
        env.ok(
            &admin,
            "mutation($id: ID!) { deleteNetwork(id: $id) }",
            json!({"id": second}),
        )
        .await;
        let d = env.ok(&admin, usage, json!({"id": t})).await;
        assert_eq!(
            d["tenant"]["usage"],
            json!({"networks": 1, "nodes": 4, "storageGib": 40})
        );
        env.ok(
            &admin,
            CREATE_NETWORK,
            json!({"i": {"name": "trace-3", "validators": 1, "storageGib": 1}}),
        )
        .await;
    }
);

both!(
    networks_are_checked_against_their_engine,
    |env: Env| async move {
        let t = env.tenant("星沙制药有限公司", "91430100MA4L0007X").await;
        let admin = env.user(Some(&t), "xs-admin", "TENANT_ADMIN").await;
        let cases = [
            (json!({"name": "Bad_Name"}), "name"),
            (json!({"name": "n1", "validators": 0}), "validators"),
            (json!({"name": "n1", "validators": 100}), "validators"),
            (json!({"name": "n1", "observers": -1}), "observers"),
            (json!({"name": "n1", "storageGib": 0}), "storageGib"),
            (json!({"name": "n1", "consensus": "RAFT"}), "consensus"),
            (json!({"name": "n1", "version": "9.9"}), "version"),
            (
                json!({"name": "n1", "placement": "hunan-supercomputing"}),
                "placement",
            ),
            (json!({"name": "n1", "engine": "BESU"}), "engine"),
        ];
        for (input, field) in cases {
            let r = env.gql(&admin, CREATE_NETWORK, json!({"i": input})).await;
            assert_eq!(code(&r), "INVALID_INPUT", "{input} => {r}");
            assert_eq!(
                r["errors"][0]["extensions"]["field"], field,
                "{input} => {r}"
            );
        }
        let d = env
            .ok(
                &admin,
                CREATE_NETWORK,
                json!({"i": {"name": "sm-chain", "crypto": "SM2", "validators": 1}}),
            )
            .await;
        assert_eq!(d["createNetwork"]["crypto"], "SM2");
        let r = env
            .gql(
                &admin,
                CREATE_NETWORK,
                json!({"i": {"name": "sm-chain", "validators": 1}}),
            )
            .await;
        assert_eq!(code(&r), "CONFLICT");
        // A platform admin must say for which tenant.
        let r = env
            .gql(
                &env.admin,
                CREATE_NETWORK,
                json!({"i": {"name": "x", "validators": 1}}),
            )
            .await;
        assert_eq!(code(&r), "INVALID_INPUT");
        let d = env
            .ok(&env.admin, "{ networks { totalCount } }", json!({}))
            .await;
        assert_eq!(d["networks"]["totalCount"], 1);
    }
);

both!(
    users_are_managed_within_their_tenant,
    |env: Env| async move {
        let t = env.tenant("麓谷软件有限公司", "91430100MA4L0008X").await;
        let admin = env.user(Some(&t), "lg-admin", "TENANT_ADMIN").await;
        let create = "mutation($i: CreateUserInput!) { createUser(input: $i) { id username role tenantId tenant { name } } }";
        let d = env.ok(&admin, create, json!({"i": {"tenantId": t, "username": "lg-dev", "password": "twelve chars!", "role": "TENANT_MEMBER"}})).await;
        let dev = d["createUser"]["id"].as_str().unwrap().to_owned();
        assert_eq!(d["createUser"]["tenant"]["name"], "麓谷软件有限公司");
        for (input, c, field) in [
            (
                json!({"tenantId": t, "username": "lg-dev", "password": "twelve chars!", "role": "TENANT_MEMBER"}),
                "CONFLICT",
                None,
            ),
            (
                json!({"tenantId": t, "username": "X", "password": "twelve chars!", "role": "TENANT_MEMBER"}),
                "INVALID_INPUT",
                Some("username"),
            ),
            (
                json!({"tenantId": t, "username": "lg-ops", "password": "short", "role": "TENANT_MEMBER"}),
                "INVALID_INPUT",
                Some("password"),
            ),
            (
                json!({"username": "lg-ops", "password": "twelve chars!", "role": "TENANT_MEMBER"}),
                "INVALID_INPUT",
                Some("tenantId"),
            ),
            (
                json!({"tenantId": t, "username": "lg-ops", "password": "twelve chars!", "role": "PLATFORM_ADMIN"}),
                "INVALID_INPUT",
                Some("tenantId"),
            ),
            (
                json!({"tenantId": "not-a-uuid", "username": "lg-ops", "password": "twelve chars!", "role": "TENANT_MEMBER"}),
                "INVALID_INPUT",
                Some("tenantId"),
            ),
        ] {
            let r = env.gql(&admin, create, json!({"i": input})).await;
            assert_eq!(code(&r), c, "{input} => {r}");
            if let Some(f) = field {
                assert_eq!(r["errors"][0]["extensions"]["field"], f, "{r}");
            }
        }
        let role = "mutation($id: ID!, $r: Role!) { setUserRole(id: $id, role: $r) { role } }";
        let d = env
            .ok(&admin, role, json!({"id": dev, "r": "TENANT_ADMIN"}))
            .await;
        assert_eq!(d["setUserRole"]["role"], "TENANT_ADMIN");
        let me = admin.actor.as_ref().unwrap().user_id.to_string();
        let r = env
            .gql(&admin, role, json!({"id": me, "r": "TENANT_MEMBER"}))
            .await;
        assert_eq!(code(&r), "CONFLICT");
        let r = env
            .gql(
                &admin,
                "mutation($id: ID!) { deleteUser(id: $id) }",
                json!({"id": me}),
            )
            .await;
        assert_eq!(code(&r), "CONFLICT");
        env.ok(
            &admin,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": dev}),
        )
        .await;
        let r = env
            .gql(
                &admin,
                "query($id: ID!) { user(id: $id) { id } }",
                json!({"id": dev}),
            )
            .await;
        assert_eq!(code(&r), "NOT_FOUND");
        // The last platform admin stays.
        let pa = env.admin.actor.as_ref().unwrap().user_id.to_string();
        let other_pa = env.user(None, "root2", "PLATFORM_ADMIN").await;
        env.ok(
            &other_pa,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": pa}),
        )
        .await;
        let me2 = other_pa.actor.as_ref().unwrap().user_id.to_string();
        let r = env
            .gql(
                &other_pa,
                "mutation($id: ID!) { deleteUser(id: $id) }",
                json!({"id": me2}),
            )
            .await;
        assert_eq!(code(&r), "CONFLICT");
    }
);

both!(pages_walk_forward_and_backward, |env: Env| async move {
    let mut ids = Vec::new();
    for i in 0..7 {
        let prefix = format!("91430100MA4L01{i:02}X");
        ids.push(env.tenant(&format!("分页测试公司{i}"), &prefix).await);
    }
    let q = "query($f: Int, $a: String, $l: Int, $b: String) { tenants(first: $f, after: $a, last: $l, before: $b) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } }";
    let page = |v: &Value| -> Vec<String> {
        v["tenants"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let p1 = env.ok(&env.admin, q, json!({"f": 3})).await;
    assert_eq!(page(&p1), ids[0..3]);
    assert_eq!(p1["tenants"]["totalCount"], 7);
    assert_eq!(p1["tenants"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(p1["tenants"]["pageInfo"]["hasPreviousPage"], false);
    let end = p1["tenants"]["pageInfo"]["endCursor"].clone();
    // Inserting meanwhile does not shift pages (keyset, not offset).
    env.tenant("插队公司", "91430100MA4L0199X").await;
    let p2 = env.ok(&env.admin, q, json!({"f": 3, "a": end})).await;
    assert_eq!(page(&p2), ids[3..6]);
    assert_eq!(p2["tenants"]["pageInfo"]["hasPreviousPage"], true);
    let start = p2["tenants"]["pageInfo"]["startCursor"].clone();
    let back = env.ok(&env.admin, q, json!({"l": 2, "b": start})).await;
    assert_eq!(page(&back), ids[1..3]);
    assert_eq!(back["tenants"]["pageInfo"]["hasPreviousPage"], true);
    let last = env.ok(&env.admin, q, json!({"l": 2})).await;
    assert_eq!(page(&last).len(), 2);
    assert_eq!(last["tenants"]["pageInfo"]["hasNextPage"], false);

    for (vars, field) in [
        (json!({"f": 101}), "first"),
        (json!({"f": -1}), "first"),
        (json!({"f": 2, "l": 2}), "last"),
        (json!({"a": "garbage!"}), "after"),
    ] {
        let r = env.gql(&env.admin, q, vars.clone()).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{vars} => {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], field);
    }
});
