package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if c.Profile != ProfileLAN || c.BindAddr != "0.0.0.0:7946" || c.ReconnectInterval != 30*time.Second || c.ReconnectTimeout != 24*time.Hour {
		t.Fatalf("unexpected defaults %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"wan", func(c *Config) { c.Profile = ProfileWAN }, ""},
		{"local", func(c *Config) { c.Profile = ProfileLocal }, ""},
		{"empty profile", func(c *Config) { c.Profile = "" }, ""},
		{"bad profile", func(c *Config) { c.Profile = "fast" }, `unknown profile "fast"`},
		{"port 0", func(c *Config) { c.BindAddr = "127.0.0.1:0" }, ""},
		{"no port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "bind address"},
		{"bad port", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, "port must be"},
		{"bind hostname", func(c *Config) { c.BindAddr = "localhost:7946" }, "must be an IP"},
		{"advertise", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:7946" }, ""},
		{"advertise hostname", func(c *Config) { c.AdvertiseAddr = "example.com:7946" }, "must be an IP"},
		{"secret 16", func(c *Config) { c.SecretKey = make([]byte, 16) }, ""},
		{"secret 32", func(c *Config) { c.SecretKey = make([]byte, 32) }, ""},
		{"secret 10", func(c *Config) { c.SecretKey = make([]byte, 10) }, "cluster secret is 10 bytes"},
		{"retry join", func(c *Config) { c.RetryJoin = []string{"127.0.0.1:7946"} }, ""},
		{"retry join no port", func(c *Config) { c.RetryJoin = []string{"127.0.0.1"} }, "retry-join address"},
		{"negative", func(c *Config) { c.ReconnectInterval = -time.Second }, "reconnect interval is negative"},
		{"long name", func(c *Config) { c.NodeName = strings.Repeat("x", 300) }, "node name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := DefaultConfig()
	c.Profile = "nope"
	if _, err := New(c, newKey(t), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(DefaultConfig(), nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil key: err = %v", err)
	}
}

func TestProfiles(t *testing.T) {
	for _, tc := range []struct {
		profile string
		probe   time.Duration
		pusht   time.Duration
	}{
		{ProfileLAN, time.Second, 30 * time.Second},
		{"", time.Second, 30 * time.Second},
		{ProfileWAN, 5 * time.Second, 60 * time.Second},
		{ProfileLocal, time.Second, 15 * time.Second},
	} {
		c, err := profileConfig(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		if c.ProbeInterval != tc.probe || c.PushPullInterval != tc.pusht || c.RetransmitMult < MinRetransmitMult {
			t.Errorf("%q: probe %v push/pull %v retransmit %d", tc.profile, c.ProbeInterval, c.PushPullInterval, c.RetransmitMult)
		}
	}
}
