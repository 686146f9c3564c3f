package node

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeConfig: any bytes either fail to decode with an error or decode to a
// valid config that survives an encode/decode round trip unchanged. Never a panic.
func FuzzDecodeConfig(f *testing.F) {
	var def bytes.Buffer
	EncodeConfig(&def, DefaultConfig())
	f.Add(def.Bytes())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"gossip": {"retry_join_interval": "1m", "join": ["127.0.0.1:7946"]}}`))
	f.Add([]byte(`{"swarm": {"conn_mgr": {"low_water": 1, "high_water": 2}}}`))
	f.Add([]byte(`{"log": {"level": "debug"}, "routing": {"routers": ["chord"], "default": "chord"}}`))
	f.Add([]byte(`{"gossip": {"unknown": 1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("DecodeConfig returned an invalid config: %v", err)
		}
		var buf bytes.Buffer
		if err := EncodeConfig(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		again, err := DecodeConfig(&buf)
		if err != nil {
			t.Fatalf("re-decoding own output: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(normalize(cfg), normalize(again)) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
	})
}

// normalize maps nil and empty slices to the same value for comparison.
func normalize(c Config) Config {
	fix := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	c.Addresses.Listen = fix(c.Addresses.Listen)
	c.Addresses.Announce = fix(c.Addresses.Announce)
	c.Gossip.Join = fix(c.Gossip.Join)
	c.Routing.Routers = fix(c.Routing.Routers)
	return c
}
