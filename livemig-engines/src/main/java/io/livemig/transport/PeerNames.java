package io.livemig.transport;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.security.auth.x500.X500Principal;

/**
 * The expected-peer-name check that both ends of a {@link TlsChannel} run on the other's
 * certificate: the client on the server's, the server on the client's.
 *
 * <p>A certificate names a peer by its subject alternative names of type DNS (compared without
 * regard to ASCII case and a trailing dot) or IP address (compared as addresses, so
 * {@code ::1} matches {@code 0:0:0:0:0:0:0:1}); a certificate with neither kind names it by its
 * subject's common name (CN), compared as a DNS name. As RFC 6125 says, the CN is not looked at
 * when the certificate has DNS or IP names. Wildcards are not expanded: migration hosts have
 * certificates of their own.
 *
 * <p>Stateless and thread-safe.
 */
final class PeerNames {

    private static final int SAN_DNS = 2;
    private static final int SAN_IP = 7;
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    private PeerNames() {
    }

    /**
     * Checks that {@code certificate} names {@code expected}.
     *
     * @param certificate the peer's end-entity certificate, verified against the trust store
     * @param expected    the name the peer must have: a DNS name or an IP address literal
     * @return empty if it does; otherwise what the certificate names, for the error message,
     *         e.g. {@code "DNS:other.example, IP:10.0.0.2"}
     */
    static Optional<String> mismatch(X509Certificate certificate, String expected) {
        List<String> dnsNames = new ArrayList<>();
        List<InetAddress> ipNames = new ArrayList<>();
        List<String> shown = new ArrayList<>();
        Collection<List<?>> alternatives;
        try {
            alternatives = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return Optional.of("unreadable subject alternative names (" + e.getMessage() + ")");
        }
        if (alternatives != null) {
            for (List<?> entry : alternatives) {
                int type = (Integer) entry.get(0);
                if (type == SAN_DNS && entry.get(1) instanceof String dns) {
                    dnsNames.add(dns);
                    shown.add("DNS:" + dns);
                } else if (type == SAN_IP && entry.get(1) instanceof String ip) {
                    ipLiteral(ip).ifPresent(ipNames::add);
                    shown.add("IP:" + ip);
                }
            }
        }
        Optional<InetAddress> expectedIp = ipLiteral(expected);
        if (dnsNames.isEmpty() && ipNames.isEmpty()) {
            Optional<String> cn = commonName(certificate.getSubjectX500Principal());
            if (expectedIp.isEmpty() && cn.isPresent() && sameDnsName(cn.get(), expected)) {
                return Optional.empty();
            }
            return Optional.of(cn.map(name -> "CN=" + name).orElse("no DNS name, IP address or CN"));
        }
        if (expectedIp.isPresent()) {
            if (ipNames.contains(expectedIp.get())) {
                return Optional.empty();
            }
        } else if (dnsNames.stream().anyMatch(dns -> sameDnsName(dns, expected))) {
            return Optional.empty();
        }
        return Optional.of(String.join(", ", shown));
    }

    private static boolean sameDnsName(String a, String b) {
        return stripDot(a).toLowerCase(Locale.ROOT).equals(stripDot(b).toLowerCase(Locale.ROOT));
    }

    private static String stripDot(String name) {
        return name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
    }

    /** @return the address if {@code name} is an IPv4 or IPv6 literal; never a DNS look-up */
    private static Optional<InetAddress> ipLiteral(String name) {
        String bare = name.startsWith("[") && name.endsWith("]") ? name.substring(1, name.length() - 1) : name;
        if (!IPV4.matcher(bare).matches() && !bare.contains(":")) {
            return Optional.empty();
        }
        try {
            return Optional.of(InetAddress.getByName(bare)); // a literal: parsed, not looked up
        } catch (UnknownHostException e) {
            return Optional.empty();
        }
    }

    /**
     * @return the first CN of an RFC 2253 name, with its escapes undone; empty if there is none or
     *         it is hex-encoded ({@code CN=#...})
     */
    static Optional<String> commonName(X500Principal subject) {
        String name = subject.getName(X500Principal.RFC2253);
        int i = 0;
        while (i < name.length()) {
            int equals = name.indexOf('=', i);
            if (equals < 0) {
                break;
            }
            String attribute = name.substring(i, equals).trim();
            StringBuilder value = new StringBuilder();
            int j = equals + 1;
            for (; j < name.length(); j++) {
                char c = name.charAt(j);
                if (c == '\\' && j + 1 < name.length()) {
                    value.append(name.charAt(++j));
                } else if (c == ',' || c == '+') {
                    break;
                } else {
                    value.append(c);
                }
            }
            if (attribute.equalsIgnoreCase("CN") && !value.isEmpty() && value.charAt(0) != '#') {
                return Optional.of(value.toString());
            }
            i = j + 1;
        }
        return Optional.empty();
    }
}
