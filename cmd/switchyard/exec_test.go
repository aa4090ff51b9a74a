package main

import (
	"bufio"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The built binary: its exit statuses reach the shell, and SIGTERM stops
// serve gracefully with status 0.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "switchyard")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"validate", "testdata/bookinfo"}, 0},
		{[]string{"validate", "testdata/broken"}, 1},
		{[]string{"validate"}, 2},
		{[]string{"diff", "testdata/bookinfo", "testdata/bookinfo-next/mesh.yaml"}, 1},
	} {
		cmd := exec.Command(bin, tc.args...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if tc.code == 0 {
			require.NoError(t, err, string(out))
		} else {
			require.True(t, errors.As(err, &exit), "%v: %v", tc.args, err)
			assert.Equal(t, tc.code, exit.ExitCode(), "%v:\n%s", tc.args, out)
		}
	}

	serve := exec.Command(bin, "serve", "-f", "testdata/bookinfo", "--admin", "127.0.0.1:0", "--proxy", "127.0.0.1:0")
	stderr, err := serve.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, serve.Start())
	lines := bufio.NewScanner(stderr)
	var log []string
	for lines.Scan() {
		log = append(log, lines.Text())
		if strings.Contains(lines.Text(), "forward proxy at") {
			break
		}
	}
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	for lines.Scan() {
		log = append(log, lines.Text())
	}
	require.NoError(t, serve.Wait(), strings.Join(log, "\n"))
	assert.Contains(t, log, "switchyard serve: stopping")
}
