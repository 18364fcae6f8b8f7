// Command infra is fleetdoctor's CDK app (cdk.json: "go run ./infra"): it
// reads the props from the CDK context, with CDK_DEFAULT_ACCOUNT and
// CDK_DEFAULT_REGION as fallbacks, and synthesizes the FleetDoctorHub and
// FleetDoctorMember stacks.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/infra/stacks"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetdoctor infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	props, err := stacks.FromContext(contextOf(app), os.Getenv)
	if err != nil {
		return err
	}
	if _, _, err := stacks.Build(app, props); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// contextOf reads context values as strings (cdk.json may hold numbers).
func contextOf(app awscdk.App) stacks.Lookup {
	return func(key string) string {
		v := app.Node().TryGetContext(jsii.String(key))
		if v == nil {
			return ""
		}
		if s, ok := v.(string); ok {
			return s
		}
		return fmt.Sprint(v)
	}
}
