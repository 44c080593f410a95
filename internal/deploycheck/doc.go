// Package deploycheck holds tests, and no code, that keep the deployment
// files in step with the services, without Docker or a cluster:
//
//   - docker-compose.yml, loaded with compose-go (Compose's own loader) for
//     every profile with and without deploy/deploy.env.example, runs every
//     services/<name>/main.go from a Dockerfile that builds it statically,
//     sets only variables the service reads, and passes every credential
//     a service requires;
//   - deploy/kubernetes, built with kustomize and decoded strictly into the
//     Kubernetes API types, keeps SQLite to one sandbox replica, reads
//     production credentials from files of read-only Secret volumes
//     (<VAR>_FILE), never the environment, and probes paths the running
//     services serve;
//   - deploy/prometheus/alerts.yaml and deploy/grafana/vendorgate.json
//     parse as PromQL and name only metrics the services export, scraped
//     from them built and running in sandbox mode;
//   - .ci/run runs the test command the README gives.
package deploycheck
