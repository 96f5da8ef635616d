"""Label and field selectors: parsing, canonical strings, matching and Kubernetes' messages."""

import pytest

from apimachinery.errors import BadRequest
from apimachinery.selectors import (
    FieldSelector,
    LabelSelector,
    convert_field_label,
    label_key_errors,
    label_value_errors,
    object_fields,
    selector_from_set,
)

NAME_RE_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
               "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
               "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
VALUE_RE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


@pytest.mark.parametrize("text, canonical", [
    ("", ""),
    ("app=web", "app=web"),
    ("app==web", "app==web"),
    ("app!=web", "app!=web"),
    ("  app = web  ", "app=web"),
    ("tier,!canary", "!canary,tier"),
    ("env in (prod, dev)", "env in (dev,prod)"),
    ("env notin (b,a,b)", "env notin (a,b)"),
    ("x in (in,notin)", "x in (in,notin)"),
    ("x in ()", "x in ()"),
    ("x in (a,,b)", "x in (,a,b)"),
    ("a=", "a="),
    ("a=,b", "a=,b"),
    ("z=1,a=2,m", "a=2,m,z=1"),
    ("example.com/app=x", "example.com/app=x"),
    ("n>3,m<10", "m<10,n>3"),
])
def test_parse_canonical_string(text, canonical):
    assert str(LabelSelector.parse(text)) == canonical


@pytest.mark.parametrize("text, message", [
    ("app=web=x", "found '=', expected: ',' or 'end of string'"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("x in a", "unable to parse requirement: found 'a' expected: '('"),
    ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
    ("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("x notin", "unable to parse requirement: found '' expected: '('"),
    ("x foo y", "unable to parse requirement: found 'foo', expected: in, notin, =, ==, !=, gt, lt"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("!!a", "unable to parse requirement: found '!', expected: identifier"),
    ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
    ("a=b)", "found ')', expected: ',' or 'end of string'"),
    ("a<b", "unable to parse requirement: values[0]: Invalid value: \"b\": "
            "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a>=1", "unable to parse requirement: found '=', expected: identifier"),
    ("-abc=x", f"unable to parse requirement: <nil>: Invalid value: \"-abc\": name part {NAME_RE_MSG}"),
    ("a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name "
              f"{NAME_RE_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("Ex.com/a", "unable to parse requirement: <nil>: Invalid value: \"Ex.com/a\": prefix part a lowercase "
                 "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
                 "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                 "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("app=-web", f"unable to parse requirement: values[0][app]: Invalid value: \"-web\": {VALUE_RE_MSG}"),
    ("app in (ok,bad!)", "unable to parse requirement: found '!', expected: ',' or ')'"),
    ("a=b&c", f"unable to parse requirement: values[0][a]: Invalid value: \"b&c\": {VALUE_RE_MSG}"),
])
def test_parse_errors_carry_kubernetes_messages(text, message):
    with pytest.raises(BadRequest) as e:
        LabelSelector.parse(text)
    assert e.value.code == 400 and e.value.reason == "BadRequest"
    assert e.value.message == message


LABELS = {"app": "web", "tier": "front", "n": "5"}


@pytest.mark.parametrize("text, labels, expected", [
    ("", LABELS, True),
    ("", None, True),
    ("app=web", LABELS, True),
    ("app==web", LABELS, True),
    ("app=db", LABELS, False),
    ("app!=db", LABELS, True),
    ("missing!=x", LABELS, True),
    ("app in (db,web)", LABELS, True),
    ("app notin (db,web)", LABELS, False),
    ("missing notin (a)", LABELS, True),
    ("missing in (a)", LABELS, False),
    ("tier", LABELS, True),
    ("!tier", LABELS, False),
    ("!missing", LABELS, True),
    ("app=web,tier=back", LABELS, False),
    ("n>4,n<6", LABELS, True),
    ("n>5", LABELS, False),
    ("app>1", LABELS, False),
    ("x in ()", {"x": ""}, True),
    ("x=", {"x": ""}, True),
    ("x=", {}, False),
    ("tier", None, False),
])
def test_label_selector_matches(text, labels, expected):
    assert LabelSelector.parse(text).matches(labels) is expected


@pytest.mark.parametrize("selector, labels, expected, canonical", [
    (None, {"a": "b"}, False, ""),
    ({}, {"a": "b"}, True, ""),
    ({"matchLabels": {}}, {}, True, ""),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True, "app=web"),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, False, "app=web"),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
     {"env": "dev"}, True, "env in (dev,prod)"),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, {}, True, "env notin (prod)"),
    ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, {"env": ""}, True, "env"),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {"env": ""}, False, "!env"),
    ({"matchLabels": {"z": "1"}, "matchExpressions": [{"key": "a", "operator": "Exists"}]},
     {"a": "", "z": "1"}, True, "a,z=1"),
])
def test_api_form(selector, labels, expected, canonical):
    s = LabelSelector.from_dict(selector)
    assert s.matches(labels) is expected
    assert str(s) == canonical
    assert s.empty is (selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions"))


@pytest.mark.parametrize("selector, message", [
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"),
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
     "\"Equals\" is not a valid label selector operator"),
    ({"matchLabels": {"-a": "b"}}, f"key: Invalid value: \"-a\": name part {NAME_RE_MSG}"),
])
def test_api_form_errors(selector, message):
    with pytest.raises(BadRequest) as e:
        LabelSelector.from_dict(selector)
    assert e.value.message == message


def test_selector_from_set_and_exact_match():
    s = selector_from_set({"b": "2", "a": "1"})
    assert str(s) == "a=1,b=2"
    assert s.matches({"a": "1", "b": "2", "c": "3"}) and not s.matches({"a": "1"})
    assert selector_from_set(None).matches({"x": "y"})
    assert LabelSelector.parse("a in (x),b=y").requires_exact_match("a") == "x"
    assert LabelSelector.parse("a in (x,z)").requires_exact_match("a") is None


@pytest.mark.parametrize("key, errors", [
    ("app", []),
    ("app.kubernetes.io/name", []),
    ("a" * 63, []),
    ("a" * 64, ["name part must be no more than 63 characters"]),
    ("/a", ["prefix part must be non-empty"]),
    ("a/", ["name part must be non-empty", "name part " + NAME_RE_MSG]),
])
def test_label_key_errors(key, errors):
    assert label_key_errors(key) == errors


def test_label_value_errors():
    assert label_value_errors("") == []
    assert label_value_errors("a" * 64) == ["must be no more than 63 characters"]
    assert label_value_errors("_x") == [VALUE_RE_MSG]


@pytest.mark.parametrize("text, requirements, canonical", [
    ("", (), ""),
    ("metadata.name=web", (("metadata.name", "=", "web"),), "metadata.name=web"),
    ("metadata.name==web", (("metadata.name", "=", "web"),), "metadata.name=web"),
    ("status.phase!=Running,spec.nodeName=n1", (("spec.nodeName", "=", "n1"), ("status.phase", "!=", "Running")),
     "spec.nodeName=n1,status.phase!=Running"),
    ("spec.nodeName=", (("spec.nodeName", "=", ""),), "spec.nodeName="),
    (r"a=x\,y\=z\\", (("a", "=", "x,y=z\\"),), r"a=x\,y\=z\\"),
    ("a=b,,c=d", (("a", "=", "b"), ("c", "=", "d")), "a=b,c=d"),
])
def test_field_selector_parse(text, requirements, canonical):
    s = FieldSelector.parse(text)
    assert s.requirements == requirements
    assert str(s) == canonical


@pytest.mark.parametrize("text, message", [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    (r"a=b\x", "invalid field selector: invalid escape sequence: \\x"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_field_selector_errors(text, message):
    with pytest.raises(BadRequest) as e:
        FieldSelector.parse(text)
    assert e.value.message == message


def test_field_selector_matches():
    fields = {"metadata.name": "web", "status.phase": "Running"}
    assert FieldSelector.parse("metadata.name=web,status.phase!=Pending").matches(fields)
    assert not FieldSelector.parse("status.phase=Pending").matches(fields)
    assert FieldSelector.parse("spec.nodeName=").matches(fields)  # missing reads as ""
    assert FieldSelector.parse("").matches(fields)


@pytest.mark.parametrize("group, kind, label, result", [
    ("", "Pod", "spec.nodeName", "spec.nodeName"),
    ("", "Pod", "spec.host", "spec.nodeName"),
    ("", "Pod", "status.podIP", "status.podIP"),
    ("", "Event", "involvedObject.uid", "involvedObject.uid"),
    ("events.k8s.io", "Event", "regarding.name", "regarding.name"),
    ("apps", "Deployment", "metadata.name", "metadata.name"),
    ("", "Node", "spec.unschedulable", "spec.unschedulable"),
    ("", "Pod", "spec.foo", "field label not supported: spec.foo"),
    ("", "Node", "metadata.namespace", "field label not supported: metadata.namespace"),
    ("apps", "Deployment", "spec.replicas",
     '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("batch", "Job", "spec.x", 'field label "spec.x" not supported for batchv1.Job'),
])
def test_convert_field_label(group, kind, label, result):
    if " " in result:
        with pytest.raises(BadRequest) as e:
            convert_field_label(group, kind, label)
        assert e.value.message == result and e.value.code == 400
    else:
        assert convert_field_label(group, kind, label) == result


def test_converted_selector_uses_kind_fields():
    s = FieldSelector.parse("spec.host=n1").converted("Pod")
    assert str(s) == "spec.nodeName=n1"
    with pytest.raises(BadRequest):
        FieldSelector.parse("spec.replicas=1").converted("Deployment", "apps")


def test_object_fields_per_kind():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
           "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "serviceAccountName": "default"},
           "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]}}
    assert object_fields("Pod", pod) == {
        "metadata.name": "p", "metadata.namespace": "ns", "spec.nodeName": "n1", "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler", "spec.serviceAccountName": "default",
        "spec.hostNetwork": "false", "status.phase": "Running", "status.podIP": "10.0.0.5",
        "status.nominatedNodeName": ""}
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
             "involvedObject": {"kind": "Pod", "name": "p", "uid": "u1"}, "reason": "Started",
             "source": {"component": "kubelet"}, "type": "Normal"}
    f = object_fields("Event", event)
    assert f["involvedObject.uid"] == "u1" and f["source"] == "kubelet" and f["involvedObject.fieldPath"] == ""
    ev1 = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
           "regarding": {"name": "p"}, "reportingController": "ctl"}
    f = object_fields("Event", ev1)
    assert f["regarding.name"] == "p" and f["reportingController"] == "ctl" and f["source"] == "ctl"
    assert object_fields("Node", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}})[
        "spec.unschedulable"] == "true"
    assert object_fields("Secret", {"metadata": {"name": "s"}, "type": "Opaque"})["type"] == "Opaque"
    assert object_fields("Job", {"apiVersion": "batch/v1", "metadata": {"name": "j"},
                                 "status": {"succeeded": 2}})["status.successful"] == "2"
    assert FieldSelector.parse("status.phase=Running,spec.nodeName=n1").matches(object_fields("Pod", pod))


# --- against Kubernetes' own parser ----------------------------------------------------------
# `kubectl apply --prune -l SELECTOR` parses the selector with labels.Parse before it contacts
# any server, and prints the parser's message; the kubeconfig points at a closed port.

KUBECTL_SELECTORS = [
    "app=web", "a b", "x foo y", "-abc=x", "app=-web", "x in (a", "x in (a b)", "x in (=)", "x notin", "!a=b",
    "a>=1", "a<b", "a/b/c", "Ex.com/a", "a,", "a,,b", "=a", "x in ()", "x in (a,,b)", "a=,b", "!!a", "a=(b)",
    "a" * 64 + "=1", "a=" + "b" * 64, "env in (prod, dev),tier notin (x),!canary,n>3", "a==b,c!=d", "a=b&c",
    "a!b", "a=b=c", "(a)",
]


@pytest.fixture(scope="module")
def kubectl_env(tmp_path_factory):
    import shutil

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    home = tmp_path_factory.mktemp("kubectl-home")
    (home / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {}}]\n")
    (home / "cm.json").write_text('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}')
    return kubectl, home


@pytest.mark.parametrize("text", KUBECTL_SELECTORS)
def test_parse_matches_kubernetes(kubectl_env, text):
    import subprocess

    kubectl, home = kubectl_env
    p = subprocess.run([kubectl, "apply", "-f", str(home / "cm.json"), "--prune", "-l", text, "--dry-run=client",
                        "--validate=false"], capture_output=True, text=True, timeout=60,
                       env={"HOME": str(home), "KUBECONFIG": str(home / "kubeconfig"), "PATH": "/usr/bin:/bin"})
    prefix = f'error: the provided selector "{text}" is not valid: '
    theirs = next((line[len(prefix):] for line in p.stderr.splitlines() if line.startswith(prefix)), None)
    try:
        LabelSelector.parse(text)
        ours = None
    except BadRequest as e:
        ours = e.message
    assert ours == theirs
