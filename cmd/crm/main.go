// Crm is the single binary of the event-sourced CRM. It wires the packages
// together and is the only place that reads flags and environment variables.
//
// Usage:
//
//	crm serve [flags]              run the HTTP API (embedded event store unless EVENTSTORE_URL is set)
//	crm project [flags]            run the projectors alone (REDIS_URL required)
//	crm projections list|rebuild NAME  show the projections' status or rebuild one blue/green
//	crm eventstore serve [flags]   run the embedded event store as a standalone KurrentDB-compatible server
//	crm healthcheck [flags]        probe a running crm's /readyz (for container health checks)
//	crm import online-retail FILE  import the UCI Online Retail data set (csv or csv.gz)
//	crm export [flags]             the event log as NDJSON, filtered by stream prefix, type and time
//	crm audit verify FILE          check the hash chains of an export offline
//	crm demo [flags]               load the demo data set (serve --demo does it on an empty store)
//	crm help                       print this help
//
// Run "crm COMMAND -h" for the flags of a command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

const usage = `crm: event-sourced CRM

Usage:
  crm serve [flags]              run the HTTP API (embedded event store unless EVENTSTORE_URL is set)
  crm project [flags]            run the projectors alone (REDIS_URL required)
  crm projections list|rebuild NAME  show the projections' status or rebuild one blue/green
  crm eventstore serve [flags]   run the embedded event store as a standalone KurrentDB-compatible server
  crm healthcheck [flags]        probe a running crm's /readyz (for container health checks)
  crm import online-retail FILE  import the UCI Online Retail data set (csv or csv.gz)
  crm churn evaluate FILE        evaluate the churn score on it (--cutoff T --horizon 90d)
  crm export [flags]             the event log as NDJSON (--prefix, --type, --since, --until, --out FILE)
  crm audit verify FILE          check the hash chains of an export offline
  crm demo [flags]               load the demo data set (serve --demo does it on an empty store)
  crm help                       print this help

Run "crm COMMAND -h" for the flags of a command.
Environment: CRM_DATA_DIR, CRM_HTTP_ADDR, EVENTSTORE_URL, REDIS_URL, CRM_LOG_LEVEL.
`

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // bad command line or configuration
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stderr)
	case "project":
		return runProject(ctx, args[1:], getenv, stderr)
	case "projections":
		return runProjections(ctx, args[1:], getenv, stdout, stderr)
	case "eventstore":
		if len(args) < 2 || args[1] != "serve" {
			fmt.Fprint(stderr, "crm eventstore: expected subcommand \"serve\"\n\n"+usage)
			return exitUsage
		}
		return runEventStoreServe(ctx, args[2:], getenv, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], getenv, stderr)
	case "import":
		return runImport(ctx, args[1:], getenv, stdout, stderr)
	case "churn":
		return runChurn(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return runAudit(args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "crm: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}
