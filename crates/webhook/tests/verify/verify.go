// Standard Webhooks verification in Go (standard library only) -- the function docs/webhooks.md shows.
// Test driver: reads {"secret", "body_b64", "headers": {...}} on stdin, prints "verified" or exits 1.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// header is a lookup such as r.Header.Get; body is the raw request body.
func Verify(secret string, header func(string) string, body []byte) error {
	id, ts := header("webhook-id"), header("webhook-timestamp")
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	if d := time.Since(time.Unix(t, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside the tolerance")
	}
	key := []byte(secret)
	if strings.HasPrefix(secret, "whsec_") {
		if key, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err != nil {
			return err
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	expected := mac.Sum(nil)
	for _, candidate := range strings.Split(header("webhook-signature"), " ") {
		version, signature, ok := strings.Cut(candidate, ",")
		if !ok || version != "v1" {
			continue
		}
		if offered, err := base64.StdEncoding.DecodeString(signature); err == nil && hmac.Equal(offered, expected) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

func main() {
	var c struct {
		Secret  string            `json:"secret"`
		BodyB64 string            `json:"body_b64"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	body, _ := base64.StdEncoding.DecodeString(c.BodyB64)
	header := func(name string) string { return c.Headers[strings.ToLower(name)] }
	if err := Verify(c.Secret, header, body); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("verified")
}
