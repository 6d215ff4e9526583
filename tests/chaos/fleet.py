"""fleet.py - the simulated AMC fleet the campaign runs on, made through the admin API:
accounts and instances with names that depend only on their index (a replay of a seed gets
the same instance ids), and one workflow whose SQL carries a {{tag}} literal. The tag is
the campaign's own attribution: a batch's tag, plus the instance amcsim ran the SQL on,
names one amcbatch execution even without amcbatch's "-- amcbatch" marker line."""

# One row per campaign per instance; the tag comes back in every row, so archived rows
# show which batch they were produced for.
SQL = ("SELECT campaign, SUM(impressions) AS impressions, SUM(clicks) AS clicks, {{tag}} AS tag "
       "FROM impressions GROUP BY campaign ORDER BY campaign")
PARAMS = {"startDate": "2025-01-01", "endDate": "2025-01-31", "tag": "none"}


def account_of(i, accounts):
    return i % accounts


def instance_id(run, i):
    """AMC instance id of fleet member i (≤ 58 characters of [a-z0-9])."""
    return "amcchaos%sx%04d" % (run, i)


def build(api, run, n_instances, n_accounts):
    """Creates the accounts and instances; returns (instances, workflow id). instances[i] is a
    dict: uuid, amc_id, account (the account's uuid), advertiser."""
    accounts = []
    for k in range(n_accounts):
        adv = "ENTITYCHAOS%sX%02d" % (run.upper(), k)
        st, body = api.call("POST", "/admin/accounts", {
            "account_name": "Chaos %s %d" % (run, k), "advertiser_id": adv,
            "marketplace_id": "ATVPDKIKX0DER", "region": "NA", "lwa_client_id": "cid-chaos",
            "lwa_refresh_token": "Atzr|chaos-%s-%d" % (run, k), "lwa_client_secret": "cs-chaos"})
        if st not in (200, 201) or not body or not body.get("success"):
            raise RuntimeError("create account: HTTP %s %s" % (st, body))
        accounts.append((body["account"]["id"], adv))
    instances = []
    for i in range(n_instances):
        acct, adv = accounts[account_of(i, n_accounts)]
        amc = instance_id(run, i)
        st, body = api.call("POST", "/admin/instances", {
            "instance_id": amc, "instance_name": "Chaos %d" % i, "region": "us-east-1",
            "brands": ["Chaos"], "account_id": acct, "is_sandbox": False})
        if st not in (200, 201) or not body or not body.get("success"):
            raise RuntimeError("create instance: HTTP %s %s" % (st, body))
        instances.append({"uuid": body["instance"]["id"], "amc_id": amc, "account": acct,
                          "advertiser": adv})
    st, body = api.call("POST", "/workflows", {"name": "chaos " + run, "description": "fault campaign",
                                               "sql_query": SQL, "parameters": PARAMS})
    if st not in (200, 201) or not body or not body.get("success"):
        raise RuntimeError("create workflow: HTTP %s %s" % (st, body))
    return instances, body["workflow"]["id"]
