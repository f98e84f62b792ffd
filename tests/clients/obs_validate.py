"""Validates Portcullis's observability output with the real parsers (tests/it/observability.rs).

  obs_validate.py metrics FILE  -> parses Prometheus text with prometheus_client; prints the
                                   samples as JSON: [{"name", "labels", "value", "type"}]
  obs_validate.py cadf FILE     -> rebuilds every JSON line as a pycadf Event (with
                                   keystonemiddleware's ClientResource for the initiator), which
                                   runs pycadf's validators; checks is_valid() and that
                                   as_dict() gives back the line; prints the number of events
Exit status 1 with a message on the first failure.
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")


def metrics(path):
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    with open(path) as f:
        text = f.read()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.append({"name": s.name, "labels": s.labels, "value": s.value, "type": fam.type})
    print(json.dumps(out))


def cadf(path):
    from keystonemiddleware.audit._api import ClientResource
    from pycadf import event, host, reason, reporterstep, resource

    n = 0
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            i = d["initiator"]
            initiator = ClientResource(
                typeURI=i["typeURI"], id=i["id"], name=i["name"],
                host=host.Host(address=i["host"].get("address"), agent=i["host"].get("agent")),
                project_id=i["project_id"], request_id=i["request_id"])
            t = d["target"]
            target = resource.Resource(typeURI=t["typeURI"], id=t["id"], name=t["name"])
            ev = event.Event(
                eventType=d["eventType"], id=d["id"], eventTime=d["eventTime"],
                action=d["action"], outcome=d["outcome"], initiator=initiator, target=target,
                observer=resource.Resource(id=d["observer"]["id"]),
                reason=reason.Reason(reasonType=d["reason"]["reasonType"],
                                     reasonCode=d["reason"]["reasonCode"]))
            ev.requestPath = d["requestPath"]
            for tg in d["tags"]:
                ev.add_tag(tg)
            for st in d["reporterchain"]:
                ev.add_reporterstep(reporterstep.Reporterstep(
                    role=st["role"], reporterTime=st["reporterTime"],
                    reporter=resource.Resource(id=st["reporter"]["id"])))
            if not ev.is_valid():
                sys.exit("not a valid CADF event: %s" % line)
            back = json.loads(json.dumps(ev.as_dict()))
            if back != d:
                sys.exit("pycadf gives a different event:\n%s\n%s" % (json.dumps(back, sort_keys=True), json.dumps(d, sort_keys=True)))
            n += 1
    print(n)


if __name__ == "__main__":
    {"metrics": metrics, "cadf": cadf}[sys.argv[1]](sys.argv[2])
