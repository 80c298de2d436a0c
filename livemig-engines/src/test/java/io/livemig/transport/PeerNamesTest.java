package io.livemig.transport;

import org.junit.jupiter.api.Test;

import java.security.cert.X509Certificate;
import java.util.Optional;
import javax.security.auth.x500.X500Principal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PeerNamesTest {

    @Test
    void dnsNamesMatchWithoutRegardToCaseOrATrailingDot() throws Exception {
        X509Certificate server = TestPki.get().certificate("server");
        assertEquals(Optional.empty(), PeerNames.mismatch(server, "destination.test"));
        assertEquals(Optional.empty(), PeerNames.mismatch(server, "Destination.TEST."));
        assertTrue(PeerNames.mismatch(server, "other.test").isPresent());
        assertTrue(PeerNames.mismatch(server, "test").isPresent());
    }

    @Test
    void ipAddressesMatchAsAddressesInEitherNotation() throws Exception {
        X509Certificate server = TestPki.get().certificate("server");
        assertEquals(Optional.empty(), PeerNames.mismatch(server, "127.0.0.1"));
        assertEquals(Optional.empty(), PeerNames.mismatch(server, "::1"));
        assertEquals(Optional.empty(), PeerNames.mismatch(server, "[0:0:0:0:0:0:0:1]"));
        assertTrue(PeerNames.mismatch(server, "127.0.0.2").isPresent());
    }

    @Test
    void theCommonNameIsNotLookedAtWhenTheCertificateHasAlternativeNames() throws Exception {
        X509Certificate server = TestPki.get().certificate("server"); // CN=destination
        Optional<String> mismatch = PeerNames.mismatch(server, "destination");
        assertTrue(mismatch.isPresent());
        assertEquals("DNS:destination.test, IP:127.0.0.1, IP:0:0:0:0:0:0:0:1", mismatch.get());
    }

    @Test
    void aCertificateWithoutAlternativeNamesIsNamedByItsCommonName() throws Exception {
        X509Certificate cnOnly = TestPki.get().certificate("cn-only");
        assertEquals(Optional.empty(), PeerNames.mismatch(cnOnly, "CN-only.test"));
        assertEquals(Optional.of("CN=cn-only.test"), PeerNames.mismatch(cnOnly, "other.test"));
        assertTrue(PeerNames.mismatch(cnOnly, "127.0.0.1").isPresent(), "a CN is never an IP address");
    }

    @Test
    void theCommonNameIsReadWithItsEscapes() {
        assertEquals(Optional.of("a,b"), PeerNames.commonName(new X500Principal("O=x, CN=a\\,b")));
        assertEquals(Optional.of("host"), PeerNames.commonName(new X500Principal("CN=host, O=Example")));
        assertEquals(Optional.empty(), PeerNames.commonName(new X500Principal("O=Example")));
    }
}
