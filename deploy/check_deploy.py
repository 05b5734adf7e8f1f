#!/usr/bin/env python3
"""Static checks of the deployment assets that need no Docker, Kubernetes or Kafka.

ctest runs each of them (label "deploy", deploy/CMakeLists.txt):

  check_deploy.py metric-names DEPLOY_DIR  every metric the rules and the dashboard query is one
                                           rostersyncd exports (or a recording rule defines)
  check_deploy.py runbook DEPLOY_DIR       every alert has its RUNBOOK.md entry and runbook_url
  check_deploy.py dashboard FILE           Grafana dashboard structure
  check_deploy.py compose FILE             services, dependencies, volumes, files it mounts
  check_deploy.py kubernetes DIR           kustomization, probes, security context, selectors
  check_deploy.py toml FILE...             TOML syntax (a ConfigMap's rostersync.toml included)
  check_deploy.py dockerfile FILE REPO     what a linter would not know: build packages within
                                           .ci/setup.sh's list, the release preset's build dir,
                                           COPY sources, non-root USER, EXPOSE, ENTRYPOINT
                                           (no Dockerfile linter is packaged in Debian 12)

Exit 0 when clean, 1 with one line per problem. Needs python3 and python3-yaml.
"""
import json
import pathlib
import re
import sys
import tomllib

import yaml

# Every metric rostersyncd exports or will export (the names are final), histograms by base name.
DAEMON_METRICS = {
    # process, HTTP server, configuration
    "rostersync_ready", "rostersync_build_info", "rostersync_config_reloads_total",
    "rostersync_http_requests_total", "rostersync_http_connections_rejected_total",
    "rostersync_metric_series_overflow_total",
    "process_start_time_seconds", "process_resident_memory_bytes", "process_virtual_memory_bytes",
    "process_open_fds", "process_max_fds", "process_cpu_seconds_total",
    # throttle budgets, NRPS, OAuth
    "rostersync_budget_admitted_total", "rostersync_budget_in_flight",
    "rostersync_budget_rejections_total", "rostersync_budget_remaining",
    "rostersync_budget_wait_exceeded_total", "rostersync_budget_waiting",
    "rostersync_budget_wait_seconds", "rostersync_nrps_requests_total",
    "rostersync_nrps_request_duration_seconds", "rostersync_nrps_pages_total",
    "rostersync_nrps_members_fetched_total", "rostersync_nrps_passes_total",
    "rostersync_oauth_token_requests_total",
    # pipeline
    "rostersync_course_seen_total", "rostersync_dead_letters_total",
    "rostersync_sync_requests_total", "rostersync_sync_passes_total",
    "rostersync_sync_pass_duration_seconds", "rostersync_changes_published_total",
    "rostersync_delivery_failures_total", "rostersync_removals_held_total", "rostersync_contexts",
    "rostersync_memberships", "rostersync_partitions", "rostersync_consumer_lag_records",
    "rostersync_checkpoint_age_seconds", "rostersync_event_latency_seconds",
    "rostersync_producing_stopped", "rostersync_kafka_broker_up",
    "rostersync_kafka_producer_queue_messages",
}
HISTOGRAMS = {"rostersync_budget_wait_seconds", "rostersync_nrps_request_duration_seconds",
              "rostersync_sync_pass_duration_seconds", "rostersync_event_latency_seconds"}
PROMETHEUS_BUILTIN = {"up", "ALERTS", "ALERTS_FOR_STATE"}

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return list(yaml.safe_load_all(f))


def metric_names_in(expr):
    """Metric names a PromQL expression selects (rule and recording names included)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # label values
    expr = re.sub(r"\{[^}]*\}", "{}", expr)                   # matchers
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)                  # ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return set(re.findall(r"\b((?:rostersync|process)[a-z0-9_:]*)", expr)) | \
        {m for m in re.findall(r"\b(up|ALERTS)\s*\{", expr)}


def check_metric(where, name, recorded):
    if name in DAEMON_METRICS or name in recorded or name in PROMETHEUS_BUILTIN:
        return
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if base in HISTOGRAMS:
        return
    problem(where, f"unknown metric {name} (not exported by rostersyncd, not a recording rule)")


def cmd_metric_names(deploy):
    deploy = pathlib.Path(deploy)
    rules_file = deploy / "prometheus" / "rostersync.rules.yml"
    rules = load_yaml(rules_file)[0]
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    for g in rules["groups"]:
        for r in g["rules"]:
            name = r.get("record") or r.get("alert")
            for m in metric_names_in(r["expr"]):
                check_metric(f"{rules_file.name} {name}", m, recorded)
    for h in HISTOGRAMS:
        for r in (r for g in rules["groups"] for r in g["rules"]):
            if re.search(rf"\b{h}\b(?!_)", r["expr"]):
                problem(rules_file.name, f"{r.get('record') or r.get('alert')}: histogram {h} "
                        "is queried without _bucket/_sum/_count")
    dash_file = deploy / "grafana" / "rostersync-dashboard.json"
    dash = json.loads(dash_file.read_text(encoding="utf-8"))
    for p in panels_of(dash):
        for t in p.get("targets", []):
            for m in metric_names_in(t.get("expr", "")):
                check_metric(f"{dash_file.name} panel {p.get('title')!r}", m, recorded)
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("definition") or ""
        for m in metric_names_in(q.replace("label_values(", "(")):
            check_metric(f"{dash_file.name} variable {v['name']}", m, recorded)


def cmd_runbook(deploy):
    deploy = pathlib.Path(deploy)
    rules = load_yaml(deploy / "prometheus" / "rostersync.rules.yml")[0]
    runbook = (deploy / "RUNBOOK.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,4} (\S+)\s*$", runbook, re.M))
    tests = (deploy / "prometheus" / "rostersync.rules.test.yml").read_text(encoding="utf-8")
    for g in rules["groups"]:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            a = r["alert"]
            if a not in headings:
                problem("RUNBOOK.md", f"no '### {a}' entry")
            url = r.get("annotations", {}).get("runbook_url", "")
            if not url.endswith("#" + a.lower()):
                problem("rostersync.rules.yml", f"{a}: runbook_url should end with #{a.lower()}")
            if r.get("labels", {}).get("severity") not in ("critical", "warning"):
                problem("rostersync.rules.yml", f"{a}: severity must be critical or warning")
            if f"alertname: {a}\n" not in tests:
                problem("rostersync.rules.test.yml", f"no test of {a}")


def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def cmd_dashboard(path):
    dash = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    for key in ("uid", "title", "panels", "schemaVersion", "templating"):
        if key not in dash:
            problem(path, f"no {key}")
    names = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    ids = set()
    for p in panels_of(dash):
        if p.get("id") in ids:
            problem(path, f"panel id {p.get('id')} repeated")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(k in g for k in ("h", "w", "x", "y")) or g.get("x", 0) + g.get("w", 0) > 24:
            problem(path, f"panel {p.get('title')!r}: bad gridPos {g}")
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problem(path, f"panel {p.get('title')!r}: datasource must be the ${{datasource}} variable")
        if not p.get("targets"):
            problem(path, f"panel {p.get('title')!r}: no query")
        for t in p.get("targets", []):
            for var in re.findall(r"\$(\w+)", t.get("expr", "")):
                if var not in names and not var.startswith("__"):
                    problem(path, f"panel {p.get('title')!r}: unknown variable ${var}")


def cmd_compose(path):
    path = pathlib.Path(path)
    doc = load_yaml(path)[0]
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    for name, s in services.items():
        where = f"{path.name} service {name}"
        if "image" not in s and "build" not in s:
            problem(where, "neither image nor build")
        build = s.get("build")
        if isinstance(build, dict):
            ctx = (path.parent / build.get("context", ".")).resolve()
            if not (ctx / build.get("dockerfile", "Dockerfile")).is_file():
                problem(where, f"no Dockerfile {build.get('dockerfile')} in {ctx}")
        deps = s.get("depends_on", {})
        for dep in (deps if isinstance(deps, list) else deps.keys()):
            if dep not in services:
                problem(where, f"depends on unknown service {dep}")
        for v in s.get("volumes", []):
            source = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if source.startswith((".", "/")):
                if not (path.parent / source).exists():
                    problem(where, f"mounts {source}, which does not exist")
            elif source and source not in volumes:
                problem(where, f"uses volume {source}, not declared under volumes")
        hc = s.get("healthcheck", {}).get("test")
        if hc is not None and not (isinstance(hc, list) and hc[0] in ("CMD", "CMD-SHELL", "NONE")):
            problem(where, "healthcheck test must be a list starting with CMD or CMD-SHELL")


def cmd_kubernetes(directory):
    d = pathlib.Path(directory)
    kust = load_yaml(d / "kustomization.yaml")[0]
    docs = {}
    for res in kust.get("resources", []):
        f = d / res
        if not f.is_file():
            problem("kustomization.yaml", f"resource {res} does not exist")
            continue
        for doc in load_yaml(f):
            if not doc:
                continue
            for key in ("apiVersion", "kind", "metadata"):
                if key not in doc:
                    problem(res, f"no {key}")
            docs[(doc.get("kind"), doc.get("metadata", {}).get("name"))] = doc
    listed = {p.name for p in d.glob("*.yaml")} - {"kustomization.yaml"}
    for extra in sorted(listed - set(kust.get("resources", []))):
        problem("kustomization.yaml", f"{extra} is not listed under resources")

    dep = docs.get(("Deployment", "rostersync"))
    if not dep:
        problem(directory, "no Deployment rostersync")
        return
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    if dep["spec"]["selector"]["matchLabels"].items() - labels.items():
        problem("deployment.yaml", "selector does not match the pod labels")
    spec = pod["spec"]
    psc = spec.get("securityContext", {})
    if not psc.get("runAsNonRoot") or not psc.get("runAsUser"):
        problem("deployment.yaml", "pod must set runAsNonRoot and a numeric runAsUser")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext", {})
        where = f"deployment.yaml container {c['name']}"
        if not sc.get("readOnlyRootFilesystem"):
            problem(where, "readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(where, "allowPrivilegeEscalation must be false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problem(where, "must drop ALL capabilities")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                problem(where, f"mounts unknown volume {m['name']}")
    main = next((c for c in spec["containers"] if c["name"] == "rostersyncd"), None)
    if not main:
        problem("deployment.yaml", "no container rostersyncd")
        return
    ports = {p["name"]: p["containerPort"] for p in main.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = main.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != path or port != 9464:
            problem("deployment.yaml", f"{probe} must GET {path} on port 9464")
    for v in volumes.values():
        if "configMap" in v and ("ConfigMap", v["configMap"]["name"]) not in docs:
            problem("deployment.yaml", f"ConfigMap {v['configMap']['name']} is not defined")
        if "secret" in v and ("Secret", v["secret"]["secretName"]) not in docs:
            problem("deployment.yaml", f"Secret {v['secret']['secretName']} is not defined")
    toml_text = docs.get(("ConfigMap", "rostersync-config"), {}).get("data", {}).get("rostersync.toml", "")
    try:
        cfg = tomllib.loads(toml_text)
        listen = cfg.get("http", {}).get("listen", "")
        if not listen.endswith(":9464") or listen.startswith("127."):
            problem("configmap.yaml", "http.listen must be reachable by the probes on port 9464")
    except tomllib.TOMLDecodeError as e:
        problem("configmap.yaml", f"rostersync.toml: {e}")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace < 35:
        problem("deployment.yaml", "terminationGracePeriodSeconds below shutdown_delay + shutdown_grace")
    svc = docs.get(("Service", "rostersync"))
    if svc and svc["spec"]["selector"].items() - labels.items():
        problem("service.yaml", "selector does not match the pod labels")
    pdb = docs.get(("PodDisruptionBudget", "rostersync"))
    if pdb and pdb["spec"]["selector"]["matchLabels"].items() - labels.items():
        problem("poddisruptionbudget.yaml", "selector does not match the pod labels")
    sm = docs.get(("ServiceMonitor", "rostersync"))
    if sm and svc:
        svc_ports = {p["name"] for p in svc["spec"]["ports"]}
        for e in sm["spec"]["endpoints"]:
            if e.get("port") not in svc_ports:
                problem("servicemonitor.yaml", f"endpoint port {e.get('port')} is not a Service port")
        if sm["spec"]["selector"]["matchLabels"].items() - svc["metadata"]["labels"].items():
            problem("servicemonitor.yaml", "selector does not match the Service's labels")


def cmd_toml(*paths):
    for p in paths:
        path = pathlib.Path(p)
        try:
            if path.suffix in (".yaml", ".yml"):
                for doc in load_yaml(path):
                    if doc and doc.get("kind") == "ConfigMap":
                        for key, text in doc.get("data", {}).items():
                            if key.endswith(".toml"):
                                tomllib.loads(text)
            else:
                tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            problem(p, str(e))


def cmd_dockerfile(path, repo):
    repo = pathlib.Path(repo)
    text = pathlib.Path(path).read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)                       # join continuation lines
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages, current = {}, None
    for line in lines:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            current = m.group(2) or m.group(1)
            stages[current] = []
        elif current:
            stages[current].append((word, rest))
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for line in lines:
        if line.upper().startswith("FROM "):
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), line.split()[1])
            if image not in stages and "bookworm" not in image:
                problem(path, f"base image {image} is not Debian 12 (bookworm)")
    if len(stages) < 2:
        problem(path, "expected a multi-stage build")
    setup = (repo / ".ci" / "setup.sh").read_text(encoding="utf-8")
    known = set(re.search(r"packages=\((.*?)\)", setup, re.S).group(1).split())
    build = stages.get("build", [])
    for word, rest in build:
        if word == "RUN" and "apt-get install" in rest:
            pkgs = re.findall(r"(?<![\w/.-])([a-z0-9][a-z0-9.+-]+)(?![\w/])",
                              rest.split("apt-get install", 1)[1].split("&&")[0])
            for pkg in pkgs:
                if pkg not in known and pkg not in ("y", "no-install-recommends", "ca-certificates"):
                    problem(path, f"build stage installs {pkg}, which .ci/setup.sh does not list")
    presets = json.loads((repo / "CMakePresets.json").read_text(encoding="utf-8"))
    release = next(p for p in presets["configurePresets"] if p["name"] == "release")
    base = release
    while "binaryDir" not in base:
        base = next(p for p in presets["configurePresets"] if p["name"] == base["inherits"])
    build_dir = base["binaryDir"].replace("${sourceDir}/", "").replace("${presetName}", "release")
    build_text = " ".join(rest for _, rest in build)
    if "cmake --preset release" not in build_text or "cmake --build --preset release" not in build_text:
        problem(path, "the build stage must use the release preset")
    for binary in ("daemon/app/rostersyncd", "daemon/app/rostersync"):
        if f"{build_dir}/{binary}" not in build_text:
            problem(path, f"the build stage does not take {build_dir}/{binary}")
    final = list(stages)[-1]
    body = stages[final]
    for word, rest in body:
        if word == "COPY" and "--from" not in rest:
            for src in rest.split()[:-1]:
                if not (repo / src).exists():
                    problem(path, f"COPY source {src} does not exist")
    users = [rest for word, rest in body if word == "USER"]
    if not users or not re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]):
        problem(path, f"stage {final}: USER must be a numeric non-root uid")
    if not any(word == "EXPOSE" and "9464" in rest.split() for word, rest in body):
        problem(path, f"stage {final}: EXPOSE 9464 missing")
    entry = [json.loads(rest) for word, rest in body if word == "ENTRYPOINT"]
    if not entry or entry[-1] != ["rostersyncd", "--config", "/etc/rostersync/rostersync.toml"]:
        problem(path, f"stage {final}: ENTRYPOINT must be rostersyncd --config /etc/rostersync/rostersync.toml")


COMMANDS = {
    "metric-names": cmd_metric_names, "runbook": cmd_runbook, "dashboard": cmd_dashboard,
    "compose": cmd_compose, "kubernetes": cmd_kubernetes, "toml": cmd_toml,
    "dockerfile": cmd_dockerfile,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
    for line in problems:
        print(line)
    sys.exit(1 if problems else 0)
