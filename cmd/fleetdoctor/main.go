// Command fleetdoctor audits EC2 fleets, across accounts and regions, for
// the reasons instances cannot reach their Instance Metadata Service or are
// not managed by AWS Systems Manager.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], realDeps())
	stop()
	os.Exit(code)
}
