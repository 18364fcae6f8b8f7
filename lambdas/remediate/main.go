// Command remediate is fleetdoctor's remediate Lambda: it reads the deployment's
// configuration from the environment, builds the AWS clients and serves
// pkg/service's Remediate handler (see docs/lambdas.md).
package main

import "github.com/fleetdoctor/fleetdoctor/pkg/service"

func main() {
	service.Main(service.LambdaRemediate, (*service.Service).Remediate)
}
