package io.livemig.examples.cli;

import io.livemig.api.MigrationSecret;
import io.livemig.transport.TlsChannel;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLContext;

/**
 * The security flags that {@code kvm receive}, {@code kvm run} and {@code demo} share (a picocli
 * mixin): mutual TLS from PEM files, the expected peer name, and the migration's secret, read from
 * a file or the {@value #SECRET_VARIABLE} environment variable, never from the command line (where
 * {@code ps} would show it).
 *
 * <p>Filled in by picocli, then read by one thread.
 */
final class SecurityOptions {

    /** The environment variable that may hold the secret, in hexadecimal. */
    static final String SECRET_VARIABLE = "LIVEMIG_SECRET";

    @Option(names = "--tls-cert", paramLabel = "FILE",
            description = "this side's certificate chain (PEM, its own certificate first); with --tls-key and --tls-ca "
                    + "the migration runs over mutual TLS 1.3")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE",
            description = "the private key of --tls-cert (PEM: PKCS#8, or OpenSSL's EC or RSA form; not encrypted)")
    Path tlsKey;

    @Option(names = "--tls-ca", paramLabel = "FILE",
            description = "the CA certificates (PEM) that must have signed the peer's certificate")
    Path tlsCa;

    @Option(names = "--tls-peer-name", paramLabel = "NAME",
            description = "the DNS name or IP address the peer's certificate must carry (subject alternative name, "
                    + "or CN without those); default: any certificate signed by --tls-ca")
    String tlsPeerName;

    @Option(names = "--secret-file", paramLabel = "FILE",
            description = "the migration's secret in hexadecimal (16 to 64 bytes, as MigrationSecret.toHex() writes "
                    + "it), which both sides prove they know; or set " + SECRET_VARIABLE)
    Path secretFile;

    /** A flag combination or file that cannot be used: the command exits with 2. */
    static final class Invalid extends Exception {
        private static final long serialVersionUID = 1L;

        Invalid(String message) {
            super(message);
        }
    }

    /** @return true if any of the three TLS files was given */
    boolean tlsRequested() {
        return tlsCert != null || tlsKey != null || tlsCa != null;
    }

    /**
     * @return the TLS context of the three files, or empty if none was given
     * @throws Invalid if only some were given, or one cannot be read
     */
    Optional<SSLContext> tls() throws Invalid {
        if (!tlsRequested()) {
            if (tlsPeerName != null) {
                throw new Invalid("--tls-peer-name needs --tls-cert, --tls-key and --tls-ca");
            }
            return Optional.empty();
        }
        if (tlsCert == null || tlsKey == null || tlsCa == null) {
            throw new Invalid("give --tls-cert, --tls-key and --tls-ca together (mutual TLS needs all three)");
        }
        try {
            SSLContext context = TlsFiles.context(tlsCert, tlsKey, tlsCa);
            TlsChannel.warmUp(context); // done in the background before the migration needs it
            return Optional.of(context);
        } catch (IOException e) {
            throw new Invalid(e.getMessage());
        }
    }

    /**
     * @param environment the process environment, where {@value #SECRET_VARIABLE} may be set
     * @return the secret from {@code --secret-file}, else from {@value #SECRET_VARIABLE}; empty if neither
     * @throws Invalid if the file cannot be read, or the secret is not 16 to 64 bytes of hex
     */
    Optional<MigrationSecret> secret(Map<String, String> environment) throws Invalid {
        String hex;
        String from;
        if (secretFile != null) {
            try {
                hex = Files.readString(secretFile, StandardCharsets.US_ASCII);
            } catch (IOException e) {
                throw new Invalid("cannot read --secret-file " + secretFile + ": " + e.getMessage());
            }
            from = "--secret-file " + secretFile;
        } else {
            hex = environment.get(SECRET_VARIABLE);
            if (hex == null || hex.isBlank()) {
                return Optional.empty();
            }
            from = SECRET_VARIABLE;
        }
        try {
            return Optional.of(MigrationSecret.fromHex(hex));
        } catch (IllegalArgumentException e) {
            throw new Invalid(from + ": " + e.getMessage());
        }
    }
}
