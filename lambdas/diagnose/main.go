// Command diagnose is fleetdoctor's diagnose Lambda: it reads the deployment's
// configuration from the environment, builds the AWS clients and serves
// pkg/service's Diagnose handler (see docs/lambdas.md).
package main

import "github.com/fleetdoctor/fleetdoctor/pkg/service"

func main() {
	service.Main(service.LambdaDiagnose, (*service.Service).Diagnose)
}
