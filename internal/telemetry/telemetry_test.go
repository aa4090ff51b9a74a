package telemetry

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/switchyard-go/switchyard/internal/israce"
)

// This test binary owns the global providers: it is the only test here
// that sets them.
func TestFollowsTheGlobalProvidersAsTheyChange(t *testing.T) {
	tel := New(Providers{}, nil)
	assert.Nil(t, tel.Tracer(), "the global default traces nothing")
	assert.Nil(t, tel.Metrics(), "the global default measures nothing")

	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	require.NotNil(t, tel.Tracer(), "a global provider set later is followed")
	require.NotNil(t, tel.Metrics())
	_, span := tel.Tracer().Start(context.Background(), "x")
	assert.True(t, span.SpanContext().IsValid())
	span.End()

	otel.SetTracerProvider(tracenoop.NewTracerProvider())
	otel.SetMeterProvider(metricnoop.NewMeterProvider())
	assert.Nil(t, tel.Tracer(), "and so is a no-op one")
	assert.Nil(t, tel.Metrics())
}

func TestExplicitProvidersWin(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tel := New(Providers{Tracer: tp, Meter: metricnoop.NewMeterProvider()}, nil)
	assert.NotNil(t, tel.Tracer())
	assert.Nil(t, tel.Metrics(), "an explicit no-op meter provider measures nothing")
	assert.Nil(t, (*T)(nil).Tracer())
	assert.Nil(t, (*T)(nil).Metrics())
}

func TestLabelsCacheTheirOptions(t *testing.T) {
	l := NewLabels(KeyRoute.String("r"))
	a := l.For(Outcome{Status: 200, Method: "GET"})
	assert.Same(t, a, l.For(Outcome{Status: 200, Method: "GET"}))
	assert.NotSame(t, a, l.For(Outcome{Status: 503, Method: "GET"}))

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	c, err := mp.Meter("t").Int64Counter("c")
	require.NoError(t, err)
	c.Add(context.Background(), 1, l.For(Outcome{Status: 503, Error: "reset"}).Add...)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	p := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints[0]
	assert.Equal(t, attribute.NewSet(KeyRoute.String("r"), KeyStatus.Int(503), KeyErrorType.String("reset")), p.Attributes)

	if !israce.Enabled {
		allocs := testing.AllocsPerRun(100, func() { _ = l.For(Outcome{Status: 200, Method: "GET"}) })
		assert.Zero(t, allocs, "a cached outcome allocates nothing")
	}
}

func TestLabelsStayBounded(t *testing.T) {
	l := NewLabels()
	for i := range 2 * maxOutcomes {
		l.For(Outcome{Status: i})
	}
	assert.Len(t, *l.byName.Load(), maxOutcomes)
	assert.NotNil(t, l.For(Outcome{Status: 100000}), "past the bound it still answers")
}

func TestMethodIsBounded(t *testing.T) {
	assert.Equal(t, "GET", Method("GET"))
	assert.Equal(t, "GET", Method(""))
	assert.Equal(t, "_OTHER", Method("BREW"))
	assert.Equal(t, attribute.Key("switchyard.route"), KeyRoute)
}

// The cost a request pays when nobody listens.
func BenchmarkOff(b *testing.B) {
	tel := New(Providers{}, nil)
	b.ReportAllocs()
	for b.Loop() {
		if tel.Tracer() != nil || tel.Metrics() != nil {
			b.Fatal("on")
		}
	}
}
