// Command discover is fleetdoctor's discover Lambda: it reads the deployment's
// configuration from the environment, builds the AWS clients and serves
// pkg/service's Discover handler (see docs/lambdas.md).
package main

import "github.com/fleetdoctor/fleetdoctor/pkg/service"

func main() {
	service.Main(service.LambdaDiscover, (*service.Service).Discover)
}
