/* SPDX-License-Identifier: Apache-2.0 */
/*
 * early_vms: find, parse, validate and cross-check the early VM declarations (contract in
 * early_vms.h, design in docs/early-vms.md).
 *
 * Per file: size limit, hardened libxml2 parse (a DOCTYPE stops the parser at once), XSD
 * validation, then our own checks on the tree, which never trust the schema to have run.
 * Across files (early_vms_finish): unique names per partition, unique CIDs everywhere, then the
 * entries of every partition with a problem are dropped. libxml2 never prints: its structured
 * and generic error channels are pointed at the problem list while we call it, then restored.
 */
#include "config/early_vms.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "base/avf_err.h"
#include "base/fs_util.h"

#ifndef EARLY_VMS_XSD_DEFAULT
#error "EARLY_VMS_XSD_DEFAULT comes from core/config/CMakeLists.txt"
#endif

/* libxml2 2.12 made the structured handler's error argument const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

#define FILE_GLOB "early_vms*.xml"
/* The one message for a file over EARLY_VMS_MAX_FILE_BYTES, whoever finds it (%zu, %d). */
#define TOO_BIG "%zu bytes, over the %d-byte limit for early VM files"
/* Our own schema is a few KiB; anything much larger is not it. */
#define XSD_MAX_BYTES (256 * 1024)
/* A broken 1 MiB file can raise an error per line: list this many, count the rest. */
#define MAX_LISTED_PER_FILE 32
/* Values quoted in messages are cut to this many bytes. */
#define VALUE_SHOW 96
#define MSG_SHOW   320

/*
 * No DTD loading or validation, no entity substitution (XML_PARSE_NOENT off), no XInclude,
 * no network, no huge-document mode, no recovery; the declared encoding is ignored and the
 * bytes read as UTF-8, as AVF does (String::from_utf8). NOERROR/NOWARNING only keep libxml2's
 * default stderr printer away should a message ever miss our structured handler.
 */
#define PARSE_OPTIONS                                                                              \
	(XML_PARSE_NONET | XML_PARSE_IGNORE_ENC | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |       \
	 XML_PARSE_NOCDATA)

static const struct {
	const char *name;
	uint32_t min, max; /* inclusive */
} partitions[EARLY_PART_COUNT] = {
	[EARLY_PART_SYSTEM] = {"system", 100, 199},
	[EARLY_PART_SYSTEM_EXT] = {"system_ext", 200, 299},
	[EARLY_PART_PRODUCT] = {"product", 200, 299},
	[EARLY_PART_VENDOR] = {"vendor", 300, 399},
	[EARLY_PART_ODM] = {"odm", 300, 399},
};

const char *early_partition_name(enum early_partition p)
{
	return (unsigned)p < EARLY_PART_COUNT ? partitions[p].name : "unknown";
}

int early_partition_from_name(const char *name, enum early_partition *ret)
{
	for (int p = 0; name && p < EARLY_PART_COUNT; p++)
		if (strcmp(name, partitions[p].name) == 0) {
			*ret = (enum early_partition)p;
			return 0;
		}
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "unknown partition '%s'",
			   name ? name : "(null)");
}

void early_partition_cid_range(enum early_partition p, uint32_t *ret_min, uint32_t *ret_max)
{
	/* Not one of the five (AVF's "Unknown"): an empty range. */
	*ret_min = (unsigned)p < EARLY_PART_COUNT ? partitions[p].min : 1;
	*ret_max = (unsigned)p < EARLY_PART_COUNT ? partitions[p].max : 0;
}

/* ---- small helpers ------------------------------------------------------------------------ */

/*
 * The struct has no capacity field: arrays hold max(4, next power of two >= n) slots, so they
 * need to grow exactly when n is 0 or a power of two >= 4. Removing entries keeps the slots.
 */
static int grow(void *arrp, size_t n, size_t size)
{
	void **arr = arrp;
	void *p;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0;
	p = reallocarray(*arr, n ? n * 2 : 4, size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

/* @s for a message: at most VALUE_SHOW bytes, then "...". */
static const char *show(char *buf, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n < size && n <= VALUE_SHOW)
		return s;
	snprintf(buf, size, "%.*s...", (int)(size - 4 < VALUE_SHOW ? size - 4 : VALUE_SHOW), s);
	return buf;
}

/* One line each: control bytes (a newline in a value or a file name) become '?'. */
static void flatten(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int add_problem_v(struct early_vms *v, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static int add_problem_v(struct early_vms *v, const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		return -ENOMEM;
	if (grow(&v->problems, v->n_problems, sizeof(*v->problems)) < 0) {
		free(s);
		return -ENOMEM;
	}
	flatten(s);
	v->problems[v->n_problems++] = s;
	return 0;
}

static int add_problem(struct early_vms *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_problem(struct early_vms *v, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = add_problem_v(v, fmt, ap);
	va_end(ap);
	return r;
}

static int oom(const char *what)
{
	return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory %s", what);
}

static void entry_clear(struct early_vm_entry *e)
{
	free(e->name);
	free(e->path);
	free(e->file);
}

void early_vms_clear(struct early_vms *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++)
		entry_clear(&v->vms[i]);
	free(v->vms);
	for (size_t i = 0; i < v->n_problems; i++)
		free(v->problems[i]);
	free(v->problems);
	memset(v, 0, sizeof(*v));
}

/* ---- routing libxml2's errors --------------------------------------------------------------- */

/* What one parse_one call collects. */
struct parse_state {
	struct early_vms *v;
	enum early_partition p;
	const char *file;
	int problems; /* found in this buffer, listed or not */
	int err;      /* -ENOMEM once anything could not be recorded */
	/* libxml2's unstructured channel prints in fragments: gathered, flushed as one line. */
	char generic[MSG_SHOW];
	size_t generic_len;
};

static void problem(struct parse_state *st, long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct parse_state *st, long line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	st->problems++;
	if (st->err || st->problems > MAX_LISTED_PER_FILE + 1)
		return;
	if (st->problems == MAX_LISTED_PER_FILE + 1) {
		snprintf(msg, sizeof(msg), "more problems from here on, not listed");
	} else {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	if (add_problem(st->v, "%s:%ld: %s", st->file, line, msg) < 0)
		st->err = -ENOMEM;
}

/* libxml2's message, trimmed of its newline and cut to MSG_SHOW bytes. */
static void xml_message(char *out, size_t size, const char *msg)
{
	size_t n;

	snprintf(out, size, "%s", msg ? msg : "(no message)");
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

static void on_xml_error(void *data, xml_error_arg e)
{
	struct parse_state *st = data;
	char msg[MSG_SHOW];

	/* Warnings leave the tree as it is; only errors make a problem. */
	if (!e || e->level == XML_ERR_WARNING || e->level == XML_ERR_NONE)
		return;
	/* libxml2 follows an invalid xs:int key value with this internal note: nothing new. */
	if (e->message && strstr(e->message, "No precomputed value available"))
		return;
	xml_message(msg, sizeof(msg), e->message);
	problem(st, e->line, "%s: %s", e->domain == XML_FROM_SCHEMASV ? "schema" : "XML", msg);
}

static void on_generic_error(void *data, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void on_generic_error(void *data, const char *fmt, ...)
{
	struct parse_state *st = data;
	size_t room = sizeof(st->generic) - st->generic_len;
	va_list ap;
	int n;

	if (room <= 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(st->generic + st->generic_len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		st->generic_len += (size_t)n < room ? (size_t)n : room - 1;
}

struct saved_handlers {
	xmlGenericErrorFunc generic;
	void *generic_ctx;
	xmlStructuredErrorFunc structured;
	void *structured_ctx;
};

/*
 * libxml2 keeps these per thread. The parser's own hook (sax->serror) would be handed the
 * parser context, not @st, and some errors are raised with no context at all (the schema
 * loader's inner parser, I/O, encodings), so the thread's channels point at @st while we call
 * libxml2 and are restored after: the caller's handlers survive, and nothing reaches stderr.
 */
static void route_errors(struct parse_state *st, struct saved_handlers *s)
{
	s->generic = xmlGenericError;
	s->generic_ctx = xmlGenericErrorContext;
	s->structured = xmlStructuredError;
	s->structured_ctx = xmlStructuredErrorContext;
	xmlSetGenericErrorFunc(st, on_generic_error);
	xmlSetStructuredErrorFunc(st, on_xml_error);
}

static void restore_errors(struct parse_state *st, const struct saved_handlers *s)
{
	char msg[MSG_SHOW];

	xmlSetGenericErrorFunc(s->generic_ctx, s->generic);
	xmlSetStructuredErrorFunc(s->structured_ctx, s->structured);
	/* libxml2 also copies each error to a per-thread "last error": ours must not linger. */
	xmlResetLastError();
	if (st->generic_len) {
		xml_message(msg, sizeof(msg), st->generic);
		st->generic_len = 0;
		problem(st, 0, "libxml2: %s", msg);
	}
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
	xmlInitParser();
}

/* ---- the schema ----------------------------------------------------------------------------- */

static int schema_load(const char *xsd_path, xmlSchemaPtr *ret)
{
	struct parse_state st = {0};
	struct early_vms errs = {0};
	struct saved_handlers saved;
	xmlSchemaParserCtxtPtr pctxt;
	xmlSchemaPtr schema = NULL;
	char *buf = NULL;
	size_t len = 0;
	bool no_ctxt;
	int r;

	pthread_once(&xml_once, xml_init_once);
	if (!xsd_path)
		xsd_path = EARLY_VMS_XSD_DEFAULT;
	r = fs_read_file(AT_FDCWD, xsd_path, XSD_MAX_BYTES, &buf, &len);
	if (r == -EFBIG)
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC,
				   "early VMs schema '%s': %zu bytes, over the %d-byte limit",
				   xsd_path, len, XSD_MAX_BYTES);
	if (r < 0)
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC,
				   "can't read early VMs schema '%s': %s", xsd_path, strerror(-r));

	/* The schema is ours, installed with the program: trusted, but still never printed. */
	st.v = &errs;
	st.file = xsd_path;
	route_errors(&st, &saved);
	pctxt = xmlSchemaNewMemParserCtxt(buf, (int)len);
	no_ctxt = !pctxt;
	if (pctxt) {
		xmlSchemaSetParserStructuredErrors(pctxt, on_xml_error, &st);
		schema = xmlSchemaParse(pctxt);
		xmlSchemaFreeParserCtxt(pctxt);
	}
	restore_errors(&st, &saved);
	free(buf);
	if (!schema && (no_ctxt || st.err))
		r = oom("loading the early VMs schema");
	else if (!schema)
		r = avf_err_set(-EINVAL, AVF_EX_SERVICE_SPECIFIC, "invalid early VMs schema: %s",
				errs.n_problems ? errs.problems[0] : xsd_path);
	else
		*ret = schema;
	early_vms_clear(&errs);
	return schema ? 0 : r;
}

/* ---- one document --------------------------------------------------------------------------- */

static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
			   const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;

	/*
	 * Called at "<!DOCTYPE name ..." before any internal subset is read: stopping here means
	 * no entity is ever declared, so none can be expanded (billion laughs, XXE).
	 */
	problem(ctxt->_private, ctxt->input ? ctxt->input->line : 0,
		"XML: DOCTYPE declarations are not allowed in early VM files");
	xmlStopParser(ctxt);
}

/* Unreachable while refuse_doctype stops the parser; kept so no entity can slip in regardless. */
static void refuse_entity(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
			  const xmlChar *system_id, xmlChar *content)
{
	xmlParserCtxtPtr ctxt = ctx;

	problem(ctxt->_private, ctxt->input ? ctxt->input->line : 0,
		"XML: entity declarations are not allowed in early VM files");
	xmlStopParser(ctxt);
}

static xmlDocPtr parse_xml(struct parse_state *st, const void *buf, size_t len)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	int before = st->problems;

	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		st->err = -ENOMEM;
		return NULL;
	}
	ctxt->_private = st;
	ctxt->sax->internalSubset = refuse_doctype;
	ctxt->sax->entityDecl = refuse_entity;
	doc = xmlCtxtReadMemory(ctxt, len ? buf : "", (int)len, st->file, "UTF-8", PARSE_OPTIONS);
	/* Only a clean parse goes on: a stopped parser may still hand back a partial tree. */
	if (doc && (!ctxt->wellFormed || st->problems != before)) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	if (!doc && st->problems == before && !st->err)
		problem(st, 0, "XML: can't parse (libxml2 gave no reason)");
	xmlFreeParserCtxt(ctxt);
	return doc;
}

static void validate(struct parse_state *st, xmlDocPtr doc, xmlSchemaPtr schema)
{
	xmlSchemaValidCtxtPtr vctxt;
	int before = st->problems, r;

	vctxt = xmlSchemaNewValidCtxt(schema);
	if (!vctxt) {
		st->err = -ENOMEM;
		return;
	}
	xmlSchemaSetValidStructuredErrors(vctxt, on_xml_error, st);
	r = xmlSchemaValidateDoc(vctxt, doc);
	xmlSchemaFreeValidCtxt(vctxt);
	/* Not valid must always be a problem, even if libxml2 said nothing we kept. */
	if (r != 0 && st->problems == before)
		problem(st, 0, "schema: not valid against early_vms.xsd (libxml2 code %d)", r);
}

static bool is_elem(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, BAD_CAST name);
}

static bool is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copy of @s without surrounding XML whitespace; NULL on ENOMEM. */
static char *dup_trimmed(const char *s)
{
	size_t n;

	while (is_xml_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_xml_space(s[n - 1]))
		n--;
	return strndup(s, n);
}

struct field {
	char *value; /* NULL: missing or given twice (already reported) */
	long line;
};

/*
 * @name of one early_vm, as an attribute or a child element but not both. Element text is
 * trimmed of surrounding whitespace (AVF's serde-xml-rs reader trims it too); attribute values
 * are taken as they are, after XML's own attribute-value normalisation.
 */
static void get_field(struct parse_state *st, xmlNodePtr vm, const char *name, const char *who,
		      struct field *f)
{
	xmlChar *attr = xmlGetNoNsProp(vm, BAD_CAST name);
	xmlNodePtr el = NULL;
	xmlChar *text;
	int n_elem = 0;

	f->value = NULL;
	f->line = xmlGetLineNo(vm);
	for (xmlNodePtr c = vm->children; c; c = c->next) {
		if (!is_elem(c, name))
			continue;
		if (++n_elem == 2)
			problem(st, xmlGetLineNo(c), "%s: more than one '%s' element", who, name);
		el = el ? el : c;
	}
	if (attr && el) {
		problem(st, f->line, "%s: '%s' given both as attribute and as child element", who,
			name);
	} else if (!attr && !el) {
		problem(st, f->line, "%s: missing '%s' (attribute or child element)", who, name);
	} else if (attr) {
		f->value = strdup((const char *)attr);
		if (!f->value)
			st->err = -ENOMEM;
	} else if (n_elem == 1) {
		f->line = xmlGetLineNo(el);
		text = xmlNodeGetContent(el);
		f->value = text ? dup_trimmed((const char *)text) : NULL;
		if (!f->value)
			st->err = -ENOMEM;
		xmlFree(text);
	}
	xmlFree(attr);
}

/*
 * xs:int's lexical form: optional sign, decimal digits (leading zeros allowed), surrounding
 * whitespace collapsed. -EINVAL: not that form; -ERANGE: outside int32.
 */
static int parse_cid(const char *s, long long *ret)
{
	long long val = 0;
	bool neg = false;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		/* saturate: only "too big" matters past int32 */
		if (val <= INT32_MAX)
			val = val * 10 + (*s - '0');
	}
	*ret = neg ? -val : val;
	return *ret < INT32_MIN || *ret > INT32_MAX ? -ERANGE : 0;
}

static int append_entry(struct parse_state *st, struct field *name, uint32_t cid,
			struct field *path, long line)
{
	struct early_vms *v = st->v;
	struct early_vm_entry *e;

	if (grow(&v->vms, v->n, sizeof(*v->vms)) < 0)
		return -ENOMEM;
	e = &v->vms[v->n];
	*e = (struct early_vm_entry){.partition = st->p, .cid = cid, .line = (int)line};
	e->file = strdup(st->file);
	if (!e->file)
		return -ENOMEM;
	e->name = name->value;
	e->path = path->value;
	name->value = path->value = NULL;
	v->n++;
	return 0;
}

/*
 * The cid @f of VM @nm, in @st's partition range or a problem in AVF's words (AVF prints the
 * range as Rust does, half-open: "100..200" is 100-199). *ret is set when it is in range.
 */
static bool check_cid(struct parse_state *st, const char *nm, const struct field *f,
		      uint32_t *ret)
{
	char range[32], b[VALUE_SHOW + 8];
	uint32_t min, max;
	long long c = 0;
	char *t;
	int r;

	early_partition_cid_range(st->p, &min, &max);
	snprintf(range, sizeof(range), "%" PRIu32 "..%" PRIu32, min, max + 1);
	t = dup_trimmed(f->value);
	if (!t) {
		st->err = -ENOMEM;
		return false;
	}
	r = parse_cid(t, &c);
	if (r == -EINVAL)
		problem(st, f->line,
			"VM '%s' uses Invalid CID '%s': not an integer. Available CIDs: %s", nm,
			show(b, sizeof(b), t), range);
	else if (r == -ERANGE)
		problem(st, f->line,
			"VM '%s' uses Invalid CID %s: not a 32-bit integer. Available CIDs: %s", nm,
			show(b, sizeof(b), t), range);
	else if (c < 0)
		problem(st, f->line, "VM '%s' uses Invalid CID %lld. Available CIDs: %s", nm, c,
			range);
	else if (c < min || c > max)
		problem(st, f->line,
			"VM '%s' uses CID %lld which is out of range. Available CIDs: %s", nm, c,
			range);
	free(t);
	if (r < 0 || c < min || c > max)
		return false;
	*ret = (uint32_t)c;
	return true;
}

/* One <early_vm>: every problem of it is reported; it is appended only if it has none. */
static void check_entry(struct parse_state *st, xmlNodePtr vm)
{
	struct field name, cid, path;
	char b1[VALUE_SHOW + 8], b2[VALUE_SHOW + 8], who[VALUE_SHOW + 16];
	const char *nm;
	uint32_t c = 0;
	int before = st->problems;

	get_field(st, vm, "name", "early_vm", &name);
	if (name.value && !name.value[0])
		problem(st, name.line, "early_vm: 'name' is empty");
	nm = name.value ? show(b1, sizeof(b1), name.value) : "";
	if (nm[0])
		snprintf(who, sizeof(who), "VM '%s'", nm);
	else
		snprintf(who, sizeof(who), "early_vm");
	get_field(st, vm, "cid", who, &cid);
	get_field(st, vm, "path", who, &path);
	if (cid.value)
		check_cid(st, nm, &cid, &c);
	if (path.value && path.value[0] != '/')
		problem(st, path.line, "%s: path '%s' is not absolute", who,
			show(b2, sizeof(b2), path.value));

	if (st->problems == before && !st->err &&
	    append_entry(st, &name, c, &path, xmlGetLineNo(vm)) < 0)
		st->err = -ENOMEM;
	free(name.value);
	free(cid.value);
	free(path.value);
}

static void check_tree(struct parse_state *st, xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	char b[VALUE_SHOW + 8];

	if (!root) {
		problem(st, 0, "no root element");
		return;
	}
	if (!is_elem(root, "early_vms")) {
		problem(st, xmlGetLineNo(root), "root element is '%s'%s, expected 'early_vms'",
			show(b, sizeof(b), (const char *)root->name),
			root->ns ? " (in a namespace)" : "");
		return;
	}
	/* Anything else under the root is the schema's to report; we only read early_vm. */
	for (xmlNodePtr n = root->children; n && !st->err; n = n->next)
		if (is_elem(n, "early_vm"))
			check_entry(st, n);
}

static int parse_one(struct early_vms *v, enum early_partition p, const char *file,
		     const void *buf, size_t len, xmlSchemaPtr schema)
{
	struct parse_state st = {.v = v, .p = p, .file = file};
	struct saved_handlers saved;
	xmlDocPtr doc;

	if (len > EARLY_VMS_MAX_FILE_BYTES) {
		problem(&st, 0, TOO_BIG, len, EARLY_VMS_MAX_FILE_BYTES);
	} else {
		route_errors(&st, &saved);
		doc = parse_xml(&st, buf, len);
		if (doc) {
			validate(&st, doc, schema);
			check_tree(&st, doc);
			xmlFreeDoc(doc);
		}
		restore_errors(&st, &saved);
	}
	if (st.problems)
		v->unusable[p] = true;
	if (st.err)
		return oom("reading early VM declarations");
	return st.problems;
}

int early_vms_parse_buffer(struct early_vms *v, enum early_partition p, const char *file,
			   const void *buf, size_t len, const char *xsd_path)
{
	xmlSchemaPtr schema;
	int r;

	if ((unsigned)p >= EARLY_PART_COUNT)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "unknown partition %d",
				   (int)p);
	r = schema_load(xsd_path, &schema);
	if (r < 0)
		return r;
	r = parse_one(v, p, file, buf, len, schema);
	xmlSchemaFree(schema);
	return r;
}

/* ---- across files --------------------------------------------------------------------------- */

/* Entries live in one array, so comparing addresses compares declaration order. */
static int by_order(const struct early_vm_entry *a, const struct early_vm_entry *b)
{
	return a < b ? -1 : a > b;
}

static int by_partition(const void *pa, const void *pb)
{
	const struct early_vm_entry *a = *(const struct early_vm_entry *const *)pa;
	const struct early_vm_entry *b = *(const struct early_vm_entry *const *)pb;

	if (a->partition != b->partition)
		return a->partition < b->partition ? -1 : 1;
	return by_order(a, b);
}

static int by_name(const void *pa, const void *pb)
{
	const struct early_vm_entry *a = *(const struct early_vm_entry *const *)pa;
	const struct early_vm_entry *b = *(const struct early_vm_entry *const *)pb;
	int c = strcmp(a->name, b->name);

	if (a->partition != b->partition)
		return a->partition < b->partition ? -1 : 1;
	return c ? c : by_order(a, b);
}

static int by_cid(const void *pa, const void *pb)
{
	const struct early_vm_entry *a = *(const struct early_vm_entry *const *)pa;
	const struct early_vm_entry *b = *(const struct early_vm_entry *const *)pb;

	if (a->cid != b->cid)
		return a->cid < b->cid ? -1 : 1;
	return by_order(a, b);
}

/* For bsearch in an array sorted by_cid: any entry with that CID. */
static int by_cid_only(const void *pa, const void *pb)
{
	const struct early_vm_entry *a = *(const struct early_vm_entry *const *)pa;
	const struct early_vm_entry *b = *(const struct early_vm_entry *const *)pb;

	return a->cid < b->cid ? -1 : a->cid > b->cid;
}

/* vms[] in partition order, declaration order kept within a partition. */
static int sort_by_partition(struct early_vms *v)
{
	const struct early_vm_entry **ptr;
	struct early_vm_entry *sorted;

	if (v->n == 0)
		return 0;
	ptr = calloc(v->n, sizeof(*ptr));
	sorted = calloc(v->n, sizeof(*sorted));
	if (!ptr || !sorted) {
		free(ptr);
		free(sorted);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->n; i++)
		ptr[i] = &v->vms[i];
	qsort(ptr, v->n, sizeof(*ptr), by_partition);
	for (size_t i = 0; i < v->n; i++)
		sorted[i] = *ptr[i];
	memcpy(v->vms, sorted, v->n * sizeof(*sorted));
	free(ptr);
	free(sorted);
	return 0;
}

static int dup_problem(struct early_vms *v, const struct early_vm_entry *first,
		       const struct early_vm_entry *e, bool by_cid_dup)
{
	char b1[VALUE_SHOW + 8], b2[VALUE_SHOW + 8];

	v->unusable[e->partition] = true;
	if (!by_cid_dup)
		return add_problem(v,
				   "%s:%d: Multiple VMs named '%s' are found (the first at %s:%d)",
				   e->file, e->line, show(b1, sizeof(b1), e->name), first->file,
				   first->line);
	return add_problem(v,
			   "%s:%d: VM '%s' uses CID %" PRIu32 ", already used by VM '%s' at %s:%d",
			   e->file, e->line, show(b1, sizeof(b1), e->name), e->cid,
			   show(b2, sizeof(b2), first->name), first->file, first->line);
}

/*
 * Within each partition: names and CIDs unique. Then across partitions, in partition order:
 * a partition that reuses a CID of an earlier, usable partition is unusable; it claims none.
 * Partitions already unusable take no part, so a broken partition cannot harm another.
 */
static int check_duplicates(struct early_vms *v)
{
	const struct early_vm_entry **ptr = calloc(v->n ? v->n : 1, sizeof(*ptr));
	const struct early_vm_entry **claimed = calloc(v->n ? v->n : 1, sizeof(*claimed));
	size_t n_claimed = 0, start = 0;
	int r = 0;

	if (!ptr || !claimed) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < v->n; i++)
		ptr[i] = &v->vms[i];
	qsort(ptr, v->n, sizeof(*ptr), by_name);
	for (size_t i = 1; i < v->n && r == 0; i++) {
		if (ptr[i]->partition != ptr[start]->partition ||
		    strcmp(ptr[i]->name, ptr[start]->name) != 0)
			start = i;
		else
			r = dup_problem(v, ptr[start], ptr[i], false);
	}

	/* vms[] is in partition order: one partition is the run [start, end). */
	for (start = 0; start < v->n && r == 0;) {
		enum early_partition p = v->vms[start].partition;
		size_t end = start, m;

		while (end < v->n && v->vms[end].partition == p)
			end++;
		m = end - start;
		for (size_t i = 0; i < m; i++)
			ptr[i] = &v->vms[start + i];
		qsort(ptr, m, sizeof(*ptr), by_cid);
		for (size_t i = 0; i < m && r == 0; i++) {
			const struct early_vm_entry key = {.cid = ptr[i]->cid}, *kp = &key;
			const struct early_vm_entry **hit;

			if (i > 0 && ptr[i]->cid == ptr[i - 1]->cid) {
				size_t f = i - 1;

				while (f > 0 && ptr[f - 1]->cid == ptr[i]->cid)
					f--;
				r = dup_problem(v, ptr[f], ptr[i], true);
				continue;
			}
			if (v->unusable[p])
				continue;
			hit = bsearch(&kp, claimed, n_claimed, sizeof(*claimed), by_cid_only);
			if (hit)
				r = dup_problem(v, *hit, ptr[i], true);
		}
		if (!v->unusable[p] && r == 0) {
			for (size_t i = 0; i < m; i++)
				claimed[n_claimed++] = ptr[i];
			qsort(claimed, n_claimed, sizeof(*claimed), by_cid);
		}
		start = end;
	}
out:
	free(ptr);
	free(claimed);
	return r;
}

int early_vms_finish(struct early_vms *v)
{
	size_t kept = 0;

	if (sort_by_partition(v) < 0 || check_duplicates(v) < 0)
		return oom("checking early VM declarations");
	for (size_t i = 0; i < v->n; i++) {
		if (v->unusable[v->vms[i].partition])
			entry_clear(&v->vms[i]);
		else
			v->vms[kept++] = v->vms[i];
	}
	v->n = kept;
	for (int p = 0; p < EARLY_PART_COUNT; p++)
		if (v->unusable[p] &&
		    add_problem(v, "%s: early VMs unusable: CID validation for %s failed",
				partitions[p].name, partitions[p].name) < 0)
			return oom("checking early VM declarations");
	return 0;
}

/* ---- discovery ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One file of @p: read with the size limit, then parse_one. */
static int load_file(struct early_vms *v, enum early_partition p, int dir_fd, const char *dir,
		     const char *name, xmlSchemaPtr schema)
{
	char *file = NULL, *buf = NULL;
	size_t len = 0;
	int r;

	if (asprintf(&file, "%s/%s", dir, name) < 0)
		return oom("reading early VM declarations");
	r = fs_read_file(dir_fd, name, EARLY_VMS_MAX_FILE_BYTES, &buf, &len);
	if (r == -ENOMEM) {
		r = oom("reading early VM declarations");
	} else if (r < 0) {
		v->unusable[p] = true;
		if (r == -EFBIG)
			r = add_problem(v, "%s:0: " TOO_BIG, file, len, EARLY_VMS_MAX_FILE_BYTES);
		else if (r == -EINVAL)
			r = add_problem(v, "%s:0: not a regular file", file);
		else
			r = add_problem(v, "%s:0: can't read: %s", file, strerror(-r));
		if (r < 0)
			r = oom("reading early VM declarations");
	} else {
		r = parse_one(v, p, file, buf, len, schema);
	}
	free(buf);
	free(file);
	return r < 0 ? r : 0;
}

/* The names in @d matching FILE_GLOB, sorted (as AVF's glob yields them). -errno. */
static int list_matches(DIR *d, char ***ret_names, size_t *ret_n)
{
	char **names = NULL;
	struct dirent *de;
	size_t n = 0;
	int r = 0;

	for (errno = 0; (de = readdir(d)); errno = 0) {
		/* glob's rules: '*' does not match a leading '.' */
		if (fnmatch(FILE_GLOB, de->d_name, FNM_PERIOD) != 0)
			continue;
		if (grow(&names, n, sizeof(*names)) < 0 || !(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r == 0 && errno)
		r = -errno;
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*ret_names = names;
	*ret_n = n;
	return 0;
}

/* Every <root>/<P>/etc/avf/early_vms*.xml. */
static int load_partition(struct early_vms *v, const char *root, enum early_partition p,
			  xmlSchemaPtr schema)
{
	char *dir = NULL, **names = NULL;
	DIR *d = NULL;
	size_t n = 0;
	int fd, r;

	if (asprintf(&dir, "%s/%s/etc/avf", root, partitions[p].name) < 0)
		return oom("listing early VM declarations");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		/* no directory: no declarations, an empty partition */
		r = errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	} else if (!(d = fdopendir(fd))) {
		r = -errno;
		close(fd);
	} else {
		r = list_matches(d, &names, &n);
	}
	if (r == -ENOMEM) {
		r = oom("listing early VM declarations");
	} else if (r < 0) {
		/* We cannot tell what P declares: broken rather than empty. */
		v->unusable[p] = true;
		r = add_problem(v, "%s:0: can't list: %s", dir, strerror(-r));
		if (r < 0)
			r = oom("listing early VM declarations");
	}
	for (size_t i = 0; i < n && r == 0; i++)
		r = load_file(v, p, dirfd(d), dir, names[i], schema);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (d)
		closedir(d);
	free(dir);
	return r;
}

int early_vms_load(const char *root, const char *xsd_path, struct early_vms *ret)
{
	struct early_vms v = {0};
	xmlSchemaPtr schema;
	char *base;
	size_t n;
	int r;

	/* "" and "/" both mean the real root; "/a/b/" is "/a/b". */
	base = strdup(root ? root : "");
	if (!base)
		return oom("loading early VM declarations");
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	r = schema_load(xsd_path, &schema);
	if (r < 0) {
		free(base);
		return r;
	}
	for (int p = 0; p < EARLY_PART_COUNT && r == 0; p++)
		r = load_partition(&v, base, (enum early_partition)p, schema);
	if (r == 0)
		r = early_vms_finish(&v);
	xmlSchemaFree(schema);
	free(base);
	if (r < 0) {
		early_vms_clear(&v);
		return r;
	}
	*ret = v;
	return 0;
}
