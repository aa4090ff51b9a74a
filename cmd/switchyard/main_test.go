package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// golden is one run of the command whose output is kept in
// testdata/golden/<name>.golden.
type golden struct {
	name  string
	args  []string
	stdin string // a file whose contents are standard input
	code  int
}

// runCommand runs the command in-process and returns its exit status and
// output.
func runCommand(t *testing.T, args []string, stdinFile string) (int, string, string) {
	t.Helper()
	stdin := &bytes.Buffer{}
	if stdinFile != "" {
		b, err := os.ReadFile(stdinFile)
		require.NoError(t, err)
		stdin.Write(b)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, stdin, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// transcript renders a run as the golden files hold it.
func transcript(args []string, stdinFile string, code int, stdout, stderr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ switchyard %s", strings.Join(quoteArgs(args), " "))
	if stdinFile != "" {
		fmt.Fprintf(&b, " < %s", stdinFile)
	}
	fmt.Fprintf(&b, "\nexit %d\n", code)
	if stdout != "" {
		fmt.Fprintf(&b, "-- stdout --\n%s", stdout)
	}
	if stderr != "" {
		fmt.Fprintf(&b, "-- stderr --\n%s", stderr)
	}
	return b.String()
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " '\"") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// checkGolden compares got with the golden file, or rewrites it with
// -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/switchyard -update to create it")
	assert.Equal(t, string(want), got, "golden file %s (go test ./cmd/switchyard -update rewrites it)", path)
}

func runGoldens(t *testing.T, cases []golden) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tc.args, tc.stdin)
			assert.Equal(t, tc.code, code, "exit status\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			checkGolden(t, tc.name, transcript(tc.args, tc.stdin, code, stdout, stderr))
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	runGoldens(t, []golden{
		{name: "usage-unknown-command", args: []string{"analyze", "mesh.yaml"}, code: 2},
		{name: "usage-unknown-flag", args: []string{"validate", "--strikt", "testdata/bookinfo"}, code: 2},
		{name: "usage-no-files", args: []string{"validate"}, code: 2},
	})
}

func TestHelpAndVersion(t *testing.T) {
	code, stdout, _ := runCommand(t, []string{"--help"}, "")
	assert.Equal(t, 0, code)
	for _, sub := range []string{"validate", "explain", "diff", "serve", "completion"} {
		assert.Contains(t, stdout, "\n  "+sub+" ")
	}
	code, stdout, _ = runCommand(t, []string{"--version"}, "")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "switchyard version ")
}

func TestShellCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, stdout, stderr := runCommand(t, []string{"completion", shell}, "")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "switchyard", shell)
	}
	// What the shell asks for while the user types "switchyard explain -f x -o <TAB>".
	code, stdout, _ := runCommand(t, []string{"__complete", "explain", "-f", "x", "-o", ""}, "")
	require.Equal(t, 0, code)
	assert.Equal(t, "text\njson\n:4\n", strings.SplitAfter(stdout, ":4\n")[0])
	code, stdout, _ = runCommand(t, []string{"__complete", "validate", ""}, "")
	require.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(stdout, "yaml\nyml\njson\n:8\n"), stdout)
}
