package io.livemig.spi;

import io.livemig.api.ByteSize;
import io.livemig.api.DurationText;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The settings a provider reads from its URI: {@code scheme:TARGET?key=value&key2=value2}, the
 * one parser every provider uses so that they all read URIs alike.
 *
 * <p><b>Grammar.</b> Opaque URIs ({@code mem:vm1?size=1G}, {@code kvm:dirtier?mem=64M}) and
 * hierarchical ones ({@code kvm:/boot/kernel?vcpus=2}, {@code kvm:?console=/tmp/c.log}) alike:
 * the query is everything after the first {@code ?} of the raw scheme-specific part, split at
 * {@code &} into {@code key=value} pairs (a pair without {@code =} has the empty value; empty
 * pairs are skipped). Keys and values are percent-decoded as UTF-8 (RFC 3986: {@code %2F} is
 * {@code /}, {@code %26} is {@code &}); {@code +} stays a plus sign, it is not a space. Keys are
 * case-sensitive. A key given twice, a key the provider does not accept, a malformed escape and
 * a URI of another scheme are refused with an {@link IllegalArgumentException} whose one-line
 * message names the URI and, for unknown keys, lists the keys that are accepted.
 *
 * <p><b>Values.</b> Typed getters parse sizes ({@code 4096}, {@code 64M}, {@code 1G}, binary
 * suffixes, see {@link ByteSize}), durations ({@code 250ms}, {@code 2s}, {@code 1.5s},
 * {@code 1m30s}, a bare number of milliseconds, or ISO-8601 {@code PT1S}), ints, doubles,
 * booleans ({@code true}/{@code false}, {@code yes}/{@code no}, {@code 1}/{@code 0}, and the empty
 * value of a bare {@code key} is true) and enums (case-insensitive). Each comes as
 * {@code xxx(key, default)} for an optional setting and {@code requireXxx(key)} for a required
 * one; a value that does not parse is refused with a message naming the key, the value and the URI.
 *
 * <p>Immutable and thread-safe.
 */
public final class UriQuery {


    private final URI uri;
    private final String target;
    private final Map<String, String> values;

    private UriQuery(URI uri, String target, Map<String, String> values) {
        this.uri = uri;
        this.target = target;
        this.values = Collections.unmodifiableMap(values);
    }

    /**
     * Parses {@code uri}, which must be of {@code scheme}, and refuses any key not in
     * {@code acceptedKeys}.
     *
     * @param uri          the URI a provider was handed
     * @param scheme       the provider's scheme, without the colon; compared ignoring case
     * @param acceptedKeys the keys the provider reads; any other key is refused
     * @return the parsed query
     * @throws IllegalArgumentException if the URI is of another scheme, a key is unknown or given
     *                                  twice, or an escape is malformed
     */
    public static UriQuery parse(URI uri, String scheme, Set<String> acceptedKeys) {
        if (uri.getScheme() == null || !uri.getScheme().equalsIgnoreCase(scheme)) {
            throw new IllegalArgumentException("not a " + scheme + ": URI: " + uri);
        }
        String ssp = uri.getRawSchemeSpecificPart();
        int at = ssp.indexOf('?');
        String target = decode(at < 0 ? ssp : ssp.substring(0, at), uri);
        Map<String, String> values = new LinkedHashMap<>();
        Set<String> unknown = new TreeSet<>();
        if (at >= 0) {
            for (String pair : ssp.substring(at + 1).split("&", -1)) {
                if (pair.isEmpty()) {
                    continue;
                }
                int eq = pair.indexOf('=');
                String key = decode(eq < 0 ? pair : pair.substring(0, eq), uri);
                String value = eq < 0 ? "" : decode(pair.substring(eq + 1), uri);
                if (key.isEmpty()) {
                    throw new IllegalArgumentException("a " + scheme + ": parameter without a name ('" + pair
                            + "') in " + uri);
                }
                if (!acceptedKeys.contains(key)) {
                    unknown.add(key);
                } else if (values.putIfAbsent(key, value) != null) {
                    throw new IllegalArgumentException(scheme + ": parameter '" + key + "' is given twice in " + uri);
                }
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("unknown " + scheme + ": parameter" + (unknown.size() > 1 ? "s " : " ")
                    + String.join(", ", unknown.stream().map(k -> "'" + k + "'").toList()) + " in " + uri
                    + "; accepted: " + (acceptedKeys.isEmpty() ? "none" : String.join(", ", new TreeSet<>(acceptedKeys))));
        }
        return new UriQuery(uri, target, values);
    }

    /** {@return the URI this query was parsed from} */
    public URI uri() {
        return uri;
    }

    /**
     * {@return the percent-decoded scheme-specific part before the {@code ?}: {@code "vm1"} in
     * {@code mem:vm1?size=1G}, {@code "/boot/kernel"} in {@code kvm:/boot/kernel?vcpus=2},
     * empty in {@code kvm:?console=c.log}}
     */
    public String target() {
        return target;
    }

    /** {@return the decoded parameters in the order given; unmodifiable} */
    public Map<String, String> asMap() {
        return values;
    }

    /**
     * {@return whether {@code key} was given (with any value, even empty)}
     *
     * @param key the parameter's name
     */
    public boolean has(String key) {
        return values.containsKey(key);
    }

    /**
     * {@return the decoded value of {@code key}, or empty if it was not given}
     *
     * @param key the parameter's name
     */
    public Optional<String> get(String key) {
        return Optional.ofNullable(values.get(key));
    }

    /**
     * {@return the decoded value of {@code key}, or {@code defaultValue} if it was not given}
     *
     * @param key the parameter's name
     * @param defaultValue the value when the parameter is not given
     */
    public String get(String key, String defaultValue) {
        return values.getOrDefault(key, defaultValue);
    }

    /**
     * {@return the decoded value of {@code key}}
     *
     * @param key the parameter's name
     * @throws IllegalArgumentException if it was not given
     */
    public String require(String key) {
        String value = values.get(key);
        if (value == null) {
            throw new IllegalArgumentException(scheme() + ": needs parameter '" + key + "' (" + uri + ")");
        }
        return value;
    }

    /**
     * {@return the size in bytes ({@code 4096}, {@code 64M}, {@code 1G}), or {@code defaultBytes} if not given}
     *
     * @param key the parameter's name
     * @param defaultBytes the size when the parameter is not given
     * @throws IllegalArgumentException if the value is not a size
     */
    public long sizeBytes(String key, long defaultBytes) {
        return has(key) ? requireSizeBytes(key) : defaultBytes;
    }

    /**
     * {@return the size in bytes ({@code 4096}, {@code 64M}, {@code 1G})}
     *
     * @param key the parameter's name
     * @throws IllegalArgumentException if not given or not a size
     */
    public long requireSizeBytes(String key) {
        String value = require(key);
        try {
            return ByteSize.parse(value).bytes();
        } catch (IllegalArgumentException e) {
            throw bad(key, value, "a size such as 4096, 512K, 64M or 1G", e);
        }
    }

    /**
     * {@return the duration ({@code 250ms}, {@code 2s}, {@code 1m30s}, a bare number of
     * milliseconds, or {@code PT1S}), or {@code defaultValue} if not given}
     *
     * @param key the parameter's name
     * @param defaultValue the value when the parameter is not given
     * @throws IllegalArgumentException if the value is not a duration or is negative
     */
    public Duration duration(String key, Duration defaultValue) {
        return has(key) ? requireDuration(key) : defaultValue;
    }

    /**
     * {@return the duration, as {@link #duration(String, Duration)} reads it}
     *
     * @param key the parameter's name
     * @throws IllegalArgumentException if not given, not a duration or negative
     */
    public Duration requireDuration(String key) {
        String value = require(key);
        try {
            return DurationText.parse(value);
        } catch (RuntimeException e) {
            throw bad(key, value, "a duration such as 250ms, 2s, 1.5s or 1m30s", e);
        }
    }

    /**
     * {@return the int, or {@code defaultValue} if not given}
     *
     * @param key the parameter's name
     * @param defaultValue the value when the parameter is not given
     * @throws IllegalArgumentException if the value is not a decimal int
     */
    public int intValue(String key, int defaultValue) {
        return has(key) ? requireInt(key) : defaultValue;
    }

    /**
     * {@return the int}
     *
     * @param key the parameter's name
     * @throws IllegalArgumentException if not given or not a decimal int
     */
    public int requireInt(String key) {
        String value = require(key);
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw bad(key, value, "a whole number", e);
        }
    }

    /**
     * {@return the long, or {@code defaultValue} if not given}
     *
     * @param key the parameter's name
     * @param defaultValue the value when the parameter is not given
     * @throws IllegalArgumentException if the value is not a decimal long
     */
    public long longValue(String key, long defaultValue) {
        String value = values.get(key);
        if (value == null) {
            return defaultValue;
        }
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw bad(key, value, "a whole number", e);
        }
    }

    /**
     * {@return the double, or {@code defaultValue} if not given}
     *
     * @param key the parameter's name
     * @param defaultValue the value when the parameter is not given
     * @throws IllegalArgumentException if the value is not a finite decimal number
     */
    public double doubleValue(String key, double defaultValue) {
        String value = values.get(key);
        if (value == null) {
            return defaultValue;
        }
        try {
            double d = Double.parseDouble(value.trim());
            if (!Double.isFinite(d)) {
                throw new NumberFormatException("not finite");
            }
            return d;
        } catch (NumberFormatException e) {
            throw bad(key, value, "a number", e);
        }
    }

    /**
     * {@return the boolean ({@code true}/{@code false}, {@code yes}/{@code no}, {@code 1}/{@code 0},
     * any case; a bare {@code key} is true), or {@code defaultValue} if not given}
     *
     * @param key the parameter's name
     * @param defaultValue the value when the parameter is not given
     * @throws IllegalArgumentException if the value is none of those
     */
    public boolean booleanValue(String key, boolean defaultValue) {
        String value = values.get(key);
        if (value == null) {
            return defaultValue;
        }
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "", "true", "yes", "1" -> true;
            case "false", "no", "0" -> false;
            default -> throw bad(key, value, "true or false", null);
        };
    }

    /**
     * {@return the constant whose name equals the value ignoring case, or {@code defaultValue}}
     *
     * @param key the parameter's name
     * @param type         the enum's class
     * @param defaultValue the value when {@code key} is not given
     * @param <E>          the enum type
     * @throws IllegalArgumentException if the value names no constant; the message lists them
     */
    public <E extends Enum<E>> E enumValue(String key, Class<E> type, E defaultValue) {
        String value = values.get(key);
        if (value == null) {
            return defaultValue;
        }
        for (E constant : type.getEnumConstants()) {
            if (constant.name().equalsIgnoreCase(value.trim())) {
                return constant;
            }
        }
        StringBuilder names = new StringBuilder();
        for (E constant : type.getEnumConstants()) {
            names.append(names.isEmpty() ? "" : "|").append(constant.name().toLowerCase(Locale.ROOT));
        }
        throw bad(key, value, names.toString(), null);
    }

    @Override
    public String toString() {
        return "UriQuery[" + uri + "]";
    }

    private String scheme() {
        return uri.getScheme();
    }

    private IllegalArgumentException bad(String key, String value, String expected, Exception cause) {
        return new IllegalArgumentException(scheme() + ": parameter " + key + "='" + value + "' is not " + expected
                + " (" + uri + ")", cause);
    }

    /** RFC 3986 percent-decoding as UTF-8; {@code +} is left alone. */
    private static String decode(String raw, URI uri) {
        if (raw.indexOf('%') < 0) {
            return raw;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(raw.length());
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '%') {
                int hi = i + 2 < raw.length() ? Character.digit(raw.charAt(i + 1), 16) : -1;
                int lo = hi >= 0 ? Character.digit(raw.charAt(i + 2), 16) : -1;
                if (lo < 0) {
                    throw new IllegalArgumentException("malformed %-escape in '" + raw + "' of " + uri);
                }
                bytes.write(hi << 4 | lo);
                i += 2;
            } else {
                byte[] utf8 = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                if (Character.isHighSurrogate(c) && i + 1 < raw.length()) {
                    utf8 = raw.substring(i, i + 2).getBytes(StandardCharsets.UTF_8);
                    i++;
                }
                bytes.writeBytes(utf8);
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("%-escapes in '" + raw + "' of " + uri + " are not UTF-8", e);
        }
    }
}
