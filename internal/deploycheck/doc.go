// Package deploycheck holds tests, and no code, that keep the deployment
// files in step with the services: every services/<name>/main.go has a
// docker-compose.yml service and a Dockerfile that builds it the way the
// others are built, compose sets only variables the service reads, and
// .ci/run runs the test command the README gives. None of it needs Docker.
package deploycheck
