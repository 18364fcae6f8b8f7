// Command report is fleetdoctor's report Lambda: it reads the deployment's
// configuration from the environment, builds the AWS clients and serves
// pkg/service's Report handler (see docs/lambdas.md).
package main

import "github.com/fleetdoctor/fleetdoctor/pkg/service"

func main() {
	service.Main(service.LambdaReport, (*service.Service).Report)
}
