"""`amcbatch admin` against the real stack: users (create prints the token once, disable
refuses it at once), tokens, accounts with credentials from stdin or a file (never argv, never
printed), instances (edit, disable), bulk grants by account and by instance names, --json, and
the exit codes (2 usage, 3 API error such as a member's 403)."""
import json
import os
import subprocess
import tempfile
import uuid

from lib import check, done, psql, require_stack

require_stack()
CLI = os.path.join(os.environ.get("BUILD_DIR", "build"), "amcbatch")
TAG = uuid.uuid4().hex[:6]


def cli(*args, token=None, stdin=None):
    e = dict(os.environ)
    if token is not None:
        e["AMCBATCH_TOKEN"] = token
    p = subprocess.run([CLI, "admin"] + list(args), capture_output=True, text=True, env=e, input=stdin,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def token_of(out):
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("API token"))


rc, out, err = cli("--help")
check(rc == 0 and "amcbatch admin users" in out and "Exit status" in out and "--refresh-token-file" in out,
      "admin --help", out + err)
for args, what in ((("users",), "missing verb"), (("users", "frob"), "unknown verb"),
                   (("users", "edit", "x@example.com"), "edit without --role"),
                   (("grants", "grant", "--user", "x"), "grant without --instances/--account"),
                   (("accounts", "create", "--name", "x"), "account without --advertiser-id"),
                   (("accounts", "create", "--lwa-refresh-token", "Atzr|x"), "no credential option on argv")):
    rc, out, err = cli(*args)
    check(rc == 2 and "usage" in err, "usage error (2): " + what, (rc, err))

# users and tokens
email = "cli-admin-%s@example.com" % TAG
rc, out, err = cli("users", "create", email)
check(rc == 0 and "API token (shown once" in out, "users create prints the token once", out + err)
mtok = token_of(out)
rc, out, err = cli("users", "list")
check(rc == 0 and email in out and "member" in out, "users list", out + err)
rc, out, err = cli("users", "list", token=mtok)
check(rc == 3 and "forbidden" in err, "a member's token: exit 3, forbidden", (rc, err))
rc, out, err = cli("users", "tokens", "create", email, "--name", "ci " + TAG)
check(rc == 0 and "API token (shown once" in out, "tokens create prints the secret once", out + err)
tok2 = token_of(out)
rc, out, err = cli("users", "tokens", "list", email, "--json")
toks = json.loads(out)["tokens"] if rc == 0 else []
check(len(toks) == 2 and any(t["name"] == "ci " + TAG for t in toks) and tok2 not in out,
      "tokens list --json: both, no secret", out + err)
tid = next((t["id"] for t in toks if t["name"] == "ci " + TAG), "")
rc, out, err = cli("users", "tokens", "revoke", tid)
check(rc == 0 and "revoked" in out, "tokens revoke", out + err)
rc, out, err = cli("users", "disable", email)
check(rc == 0 and "disabled" in out, "users disable", out + err)
p = subprocess.run([CLI, "instances"], capture_output=True, text=True, env=dict(os.environ, AMCBATCH_TOKEN=mtok))
check(p.returncode == 3 and "unauthorized" in p.stderr, "a disabled user's token is refused", (p.returncode, p.stderr))
rc, out, err = cli("users", "enable", email)
check(rc == 0 and "enabled" in out, "users enable", out + err)
rc, out, err = cli("users", "edit", "admin@example.com", "--role", "member")
check(rc == 3 and "last_admin" in err, "the last admin cannot be demoted (exit 3)", (rc, err))

# accounts: credentials from stdin and from a file; never printed
acct = "CLI Account " + TAG
rc, out, err = cli("accounts", "create", "--name", acct, "--advertiser-id", "ENTITYCLI", "--region", "EU",
                   "--refresh-token-file", "-", stdin="Atzr|cli-%s\n" % TAG)
check(rc == 0 and "refresh token stored" in out and "client secret none" in out and "Atzr" not in out,
      "accounts create reads the refresh token from stdin", out + err)
with tempfile.NamedTemporaryFile("w", suffix=".secret") as f:
    f.write("cs-%s\n" % TAG)
    f.flush()
    rc, out, err = cli("accounts", "edit", acct, "--client-secret-file", f.name, "--marketplace", "A1PA6795UKMFR9")
check(rc == 0 and "client secret stored" in out and "A1PA6795UKMFR9" in out and "cs-" not in out,
      "accounts edit replaces the client secret from a file", out + err)
rc, out, err = cli("accounts", "list")
check(rc == 0 and acct in out and "Atzr" not in out and "cs-" not in out, "accounts list", out + err)

# instances
amc_id = "amccli" + TAG
rc, out, err = cli("instances", "create", "--instance-id", amc_id, "--name", "CLI Instance " + TAG,
                   "--region", "eu-central-1", "--account", acct, "--brands", "A,B", "--timezone", "Europe/Berlin")
check(rc == 0 and amc_id in out and "Europe/Berlin" in out, "instances create (account by name)", out + err)
rc, out, err = cli("instances", "edit", amc_id, "--sandbox", "--brands", "C")
check(rc == 0 and "sandbox yes" in out, "instances edit by AMC id", out + err)
rc, out, err = cli("instances", "list", "--json")
row = next((i for i in json.loads(out)["instances"] if i["instance_id"] == amc_id), {}) if rc == 0 else {}
check(row.get("brands") == ["C"] and row.get("is_sandbox") is True, "instances list --json", row)
rc, out, err = cli("instances", "disable", "CLI Instance " + TAG)
check(rc == 0 and "disabled" in out, "instances disable by name", out + err)
rc, out, err = cli("instances", "enable", amc_id)
check(rc == 0 and out.rstrip().endswith("enabled"), "instances enable", out + err)

# grants in bulk
rc, out, err = cli("grants", "grant", "--user", email, "--account", acct)
check(rc == 0 and "1 instance, 1 changed" in out, "grants grant --account", out + err)
rc, out, err = cli("grants", "grant", "--user", email, "--instances", "%s,Japan Toys" % amc_id)
check(rc == 0 and "2 instances, 1 changed" in out, "grants grant --instances by AMC id and name", out + err)
rc, out, err = cli("grants", "list", "--user", email)
check(rc == 0 and "Japan Toys" in out and amc_id in out and "2 grants" in out, "grants list --user", out + err)
rc, out, err = cli("grants", "list", "--instance", amc_id, "--json")
check(rc == 0 and [g["email"] for g in json.loads(out)["grants"]] == [email], "grants list --instance --json", out)
rc, out, err = cli("grants", "revoke", "--user", email, "--instances", "Japan Toyz")
check(rc == 2 and "did you mean 'Japan Toys'" in err, "a near miss: did you mean (2)", (rc, err))
rc, out, err = cli("grants", "revoke", "--user", email, "--account", acct)
check(rc == 0 and "1 changed" in out, "grants revoke --account", out + err)
left = psql("SELECT count(*) FROM instance_access g JOIN users u ON u.id = g.user_id WHERE u.email = :'p1'", email)
check(left == [["1"]], "only the Japan Toys grant is left", left)
done()
