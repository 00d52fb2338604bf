/* The little XML S3 answers with (private to storage/s3*.c).
 *
 * S3 speaks XML in a handful of small, flat documents: an error
 * (<Error><Code>...), a listing page (<Contents><Key>...), a multipart
 * upload id. Pulling a few elements out of a bounded buffer does not need
 * a parser with DTDs, namespaces and entity expansion (libxml2's attack
 * surface): this reads elements by name, decodes the five predefined
 * entities and numeric character references, and refuses anything else
 * (an unknown entity, an unterminated element) as malformed. */
#ifndef STORE_S3_XML_H
#define STORE_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

/* The next element <tag>...</tag> (or <tag attr="...">...</tag>) in
 * [*p, end): *inner and *inner_len get its content, raw, and *p moves past
 * it. False when there is none (or it is not closed). tag must not nest in
 * itself; S3's elements never do. Can't fail otherwise. */
bool s3_xml_next(const char **p, const char *end, const char *tag,
                 const char **inner /* out */, size_t *inner_len /* out */);

/* The content of the first <tag> in [xml, xml+len), entities decoded,
 * into out (cap with its NUL). False when absent, malformed, or longer
 * than cap-1. Can't fail otherwise. */
bool s3_xml_text(const char *xml, size_t len, const char *tag,
                 char *out /* out */, size_t cap);

/* Decodes XML text (entities, character references) into out. False for
 * an unknown or malformed entity, a NUL character, or more than cap-1
 * bytes. Can't fail otherwise. */
bool s3_xml_decode(const char *s, size_t len, char *out /* out */, size_t cap);

#endif
