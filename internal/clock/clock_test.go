package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFakeRunsTimersInOrderAtTheirDeadline(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(start)
	var got []time.Duration
	c.AfterFunc(3*time.Second, func() { got = append(got, c.Now().Sub(start)) })
	c.AfterFunc(time.Second, func() { got = append(got, c.Now().Sub(start)) })
	stopped := c.AfterFunc(2*time.Second, func() { t.Error("stopped timer ran") })
	assert.True(t, stopped.Stop())
	assert.False(t, stopped.Stop())

	c.Advance(2 * time.Second)
	assert.Equal(t, []time.Duration{time.Second}, got)
	assert.Equal(t, 1, c.Pending())

	c.Advance(5 * time.Second)
	assert.Equal(t, []time.Duration{time.Second, 3 * time.Second}, got)
	assert.Equal(t, 7*time.Second, c.Now().Sub(start))
	assert.Zero(t, c.Pending())
}

func TestFakeTimerScheduledFromCallbackRunsInSameAdvance(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	n := 0
	c.AfterFunc(time.Second, func() {
		n++
		c.AfterFunc(time.Second, func() { n++ })
	})
	c.Advance(2 * time.Second)
	assert.Equal(t, 2, n)
}
