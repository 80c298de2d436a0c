/**
 * Page codecs: how one guest page is represented on the wire. {@link io.livemig.compress.PageEncoding}
 * names the encodings and fixes their wire identifiers; {@link io.livemig.compress.ZeroPages}
 * detects all-zero pages at memory speed.
 */
package io.livemig.compress;
