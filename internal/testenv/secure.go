package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hookstream/hookstream/config"
)

// The user every secured test broker knows (deploy/local/kafka.sh).
const (
	KafkaUser     = "hookstream"
	KafkaPassword = "hookstream-secret"
)

// SecureKafka returns kafka config that reaches a broker holding topics
// through SASL with mechanism (PLAIN without TLS, or SCRAM-SHA-512 over
// TLS): the local Apache Kafka's SASL listeners when HOOKSTREAM_TEST_KAFKA
// is set (make test-kafka names them), else a kfake cluster that requires
// the same.
func SecureKafka(t testing.TB, mechanism string, partitions int32, topics ...string) config.Kafka {
	t.Helper()
	k := config.Default().Kafka
	k.SASL = config.SASL{Mechanism: mechanism, Username: KafkaUser, Password: KafkaPassword}
	overTLS := mechanism != config.SASLPlain
	if os.Getenv("HOOKSTREAM_TEST_KAFKA") != "" {
		Kafka(t, partitions, topics...) // created through the plaintext listener
		name := map[bool]string{false: "HOOKSTREAM_TEST_KAFKA_SASL_PLAIN", true: "HOOKSTREAM_TEST_KAFKA_SASL_SSL"}[overTLS]
		addr := os.Getenv(name)
		if addr == "" {
			t.Fatalf("HOOKSTREAM_TEST_KAFKA is set but %s is not: run make test-kafka, which sets both", name)
		}
		k.Brokers = strings.Split(addr, ",")
		if overTLS {
			k.TLS = config.TLS{Enabled: true, CAFile: os.Getenv("HOOKSTREAM_TEST_KAFKA_CA")}
		}
		return k
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500 * time.Millisecond),
		kfake.EnableSASL(), kfake.Superuser(mechanism, KafkaUser, KafkaPassword)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	if overTLS {
		caFile, server := TestCA(t)
		opts = append(opts, kfake.TLS(server))
		k.TLS = config.TLS{Enabled: true, CAFile: caFile}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	k.Brokers = c.ListenAddrs()
	return k
}

// TestCA makes a CA, writes its certificate to a PEM file and returns the
// file and a server TLS config for 127.0.0.1 and localhost that it signed.
func TestCA(t testing.TB) (caFile string, server *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hookstream test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile = filepath.Join(dir, "ca.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{
		caFile:                               {Type: "CERTIFICATE", Bytes: caDER},
		filepath.Join(dir, "server.pem"):     {Type: "CERTIFICATE", Bytes: der},
		filepath.Join(dir, "server-key.pem"): {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// ServerFiles are the server certificate and key files TestCA wrote
// beside caFile.
func ServerFiles(caFile string) (cert, key string) {
	dir := filepath.Dir(caFile)
	return filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
}
