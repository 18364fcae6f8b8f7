// Command targets is fleetdoctor's targets Lambda: it reads the deployment's
// configuration from the environment, builds the AWS clients and serves
// pkg/service's Targets handler (see docs/lambdas.md).
package main

import "github.com/fleetdoctor/fleetdoctor/pkg/service"

func main() {
	service.Main(service.LambdaTargets, (*service.Service).Targets)
}
