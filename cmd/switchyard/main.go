package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses, as diff(1) has them: 0 all is well (valid, no
// difference), 1 the answer is no (invalid, different), 2 trouble (bad
// usage, unreadable files).
const (
	exitOK      = 0
	exitNo      = 1
	exitTrouble = 2
)

// exitError ends a command with a status; err, when set, is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// trouble is an error that exits with status 2.
func trouble(format string, args ...any) error {
	return &exitError{code: exitTrouble, err: fmt.Errorf(format, args...)}
}

// run runs the command line args with the given streams and returns the
// exit status. ctx ends serve (main cancels it on SIGINT and SIGTERM).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "switchyard %s: %v\n", cmd.Name(), ee.err)
		}
		return ee.code
	}
	// Anything else is cobra's: an unknown command or flag, a wrong
	// number of arguments.
	fmt.Fprintf(stderr, "switchyard: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	return exitTrouble
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "switchyard",
		Short: "Check, explain, compare and try Istio traffic configurations, as switchyard runs them",
		Long: `switchyard runs Istio's traffic management (ServiceEntry, DestinationRule,
VirtualService) inside a Go process. This command checks manifests as the
library reads them, explains how a request would be routed, shows what a
change would do to routing, and serves a configuration through a local
forward proxy to try it by hand.

FILES are manifest files or directories (read recursively for *.yaml,
*.yml and *.json; names starting with "." are skipped); "-" is standard
input. "kubectl get -o yaml" output (a List) is read as it is.

Exit status: 0 valid / no difference, 1 invalid / different, 2 trouble
(bad usage, unreadable files).`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newValidate(), newExplain(), newDiff(), newServe())
	return root
}

// version is the module version the binary was built from ("(devel)" in
// a work tree).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// fileFlag declares -f/--filename, completed with manifest files.
func fileFlag(cmd *cobra.Command, files *[]string, usage string) {
	cmd.Flags().StringArrayVarP(files, "filename", "f", nil, usage)
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
}

// outputFlag declares -o/--output text|json.
func outputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return trouble("--output %q: use text or json", output)
	}
	return nil
}
