// Validates Kubernetes objects offline against the schemas shipped in npm packages:
//   kubernetes-models                       built-in kinds (apps/v1 Deployment, v1 Service, ...)
//   @kubernetes-models/keda                 keda.sh ScaledObject, ...
//   @kubernetes-models/prometheus-operator  monitoring.coreos.com ServiceMonitor, PodMonitor, PrometheusRule
// Usage: node validate.mjs MANIFESTS.yaml [OUT.json]
// Reads a multi-document YAML file (the output of `kubectl kustomize`), validates every object with the
// model class of its apiVersion/kind, prints one line per object and writes the parsed objects (as JSON)
// to OUT.json for the semantic checks of the C# tests. Exits 1 when any object is invalid or has a
// kind no package models (an unknown CRD is an error, not a pass).
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [, , input, output] = process.argv;
if (!input) {
  console.error("usage: node validate.mjs MANIFESTS.yaml [OUT.json]");
  process.exit(2);
}

// apiVersion group -> package prefix for the model class import.
function modulePath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "keda.sh" || group === "eventing.keda.sh") {
    return `@kubernetes-models/keda/${group}/${version}/${kind}`;
  }
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return group === "" ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

const docs = parseAllDocuments(readFileSync(input, "utf8"));
const objects = [];
let failures = 0;
for (const doc of docs) {
  if (doc.errors.length > 0) {
    console.log(`INVALID yaml: ${doc.errors.map((e) => e.message).join("; ")}`);
    failures++;
    continue;
  }
  const obj = doc.toJS();
  if (obj === null || obj === undefined) {
    continue;
  }
  const id = `${obj.apiVersion}/${obj.kind} ${obj.metadata?.namespace ?? "-"}/${obj.metadata?.name ?? "?"}`;
  objects.push(obj);
  let Model;
  try {
    const module = await import(modulePath(obj.apiVersion ?? "", obj.kind ?? ""));
    Model = module[obj.kind];
  } catch (e) {
    console.log(`INVALID ${id}: no schema for ${obj.apiVersion} ${obj.kind} (${e.code ?? e.message})`);
    failures++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`valid ${id}`);
  } catch (e) {
    console.log(`INVALID ${id}: ${e.message}`);
    failures++;
  }
}

if (output) {
  writeFileSync(output, JSON.stringify(objects, null, 1));
}
console.log(`${objects.length} objects, ${failures} invalid`);
process.exit(failures === 0 && objects.length > 0 ? 0 : 1);
