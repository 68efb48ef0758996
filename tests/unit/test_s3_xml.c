/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * s3_xml: AWS, Ceph RGW and OBS style replies, and the hostile ones
 * (truncated, oversized, entity bombs, XXE, wrong root or namespace, junk
 * numbers, missing fields), plus the two request-body builders.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "unit.h"
#include "s3_xml.h"
#include "util/buf.h"

#define S(x) (x), (sizeof(x) - 1)
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

/* 2009-10-12T17:50:30Z */
#define T_2009 ((time_t)1255369830)

/* ---- Error ------------------------------------------------------------ */

static void test_error_aws(void **state)
{
	(void)state;
	static const char body[] =
		DECL "<Error>\n  <Code>NoSuchKey</Code>\n"
		     "  <Message>The resource you requested does not exist</Message>\n"
		     "  <Resource>/mybucket/myfoto.jpg</Resource>\n"
		     "  <RequestId>4442587FB7D0A2F9</RequestId>\n"
		     "  <HostId>abc=</HostId>\n</Error>\n";
	struct s3_error_info e;
	assert_int_equal(s3_xml_parse_error(S(body), &e), 0);
	assert_string_equal(e.code, "NoSuchKey");
	assert_string_equal(e.message, "The resource you requested does not exist");
	assert_string_equal(e.resource, "/mybucket/myfoto.jpg");
	assert_string_equal(e.request_id, "4442587FB7D0A2F9");
	assert_string_equal(e.host_id, "abc=");
}

static void test_error_ceph_obs(void **state)
{
	(void)state;
	/* Ceph RGW: no Message, BucketName/HostId extras, no declaration blank line. */
	static const char ceph[] = DECL "<Error><Code>NoSuchBucket</Code><BucketName>nope"
					"</BucketName><RequestId>tx000000000000000000001-0065"
					"-1010-default</RequestId><HostId>1010-default-default"
					"</HostId></Error>";
	struct s3_error_info e;
	assert_int_equal(s3_xml_parse_error(S(ceph), &e), 0);
	assert_string_equal(e.code, "NoSuchBucket");
	assert_string_equal(e.message, "");
	assert_string_equal(e.request_id, "tx000000000000000000001-0065-1010-default");

	static const char obs[] =
		DECL "<Error xmlns=\"http://obs.myhwclouds.com/doc/2015-06-30/\">"
		     "<Code>AccessDenied</Code><Message>Access Denied</Message>"
		     "<RequestId>0000018A2B</RequestId><HostId>h</HostId></Error>";
	assert_int_equal(s3_xml_parse_error(S(obs), &e), 0);
	assert_string_equal(e.code, "AccessDenied");
}

static void test_error_truncation(void **state)
{
	(void)state;
	/* A long message is cut at a character boundary, never overflowing. */
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "<Error><Code>InternalError</Code><Message>"), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(buf_adds(&b, "\xc3\xa9"), 0); /* e-acute, 2 bytes */
	assert_int_equal(buf_adds(&b, "x</Message></Error>"), 0);
	struct s3_error_info e;
	assert_int_equal(s3_xml_parse_error(b.data, b.len, &e), 0);
	size_t n = strlen(e.message);
	assert_true(n < sizeof(e.message));
	assert_int_equal(n % 2, 0);
	assert_int_equal(n, 254);
	buf_release(&b);
}

static void test_error_not_error(void **state)
{
	(void)state;
	struct s3_error_info e;
	assert_int_equal(s3_xml_parse_error("", 0, &e), -ENOENT);
	assert_int_equal(s3_xml_parse_error(NULL, 0, &e), -ENOENT);
	assert_int_equal(s3_xml_parse_error(S("   \n"), &e), -ENOENT);
	assert_int_equal(s3_xml_parse_error(S("<CopyObjectResult><ETag>\"x\"</ETag>"
					      "</CopyObjectResult>"),
					    &e),
			 -ENOENT);
	/* HTML from a proxy, binary, a truncated Error */
	assert_int_equal(s3_xml_parse_error(S("<html><body>Bad Gateway</body>"), &e), -EIO);
	assert_int_equal(s3_xml_parse_error(S("\x89PNG\r\n"), &e), -EIO);
	assert_int_equal(s3_xml_parse_error(S("<Error><Code>NoSuchKey</Code><Mess"), &e), -EIO);
	/* An Error without a Code, or with two */
	assert_int_equal(s3_xml_parse_error(S("<Error><Message>m</Message></Error>"), &e), -EIO);
	assert_int_equal(s3_xml_parse_error(S("<Error><Code>A</Code><Code>B</Code></Error>"), &e),
			 -EIO);
	assert_string_equal(e.code, "");
	/* Markup inside a leaf */
	assert_int_equal(s3_xml_parse_error(S("<Error><Code>A<b/></Code></Error>"), &e), -EIO);
}

/* ---- ListObjectsV2 ---------------------------------------------------- */

static const char list_aws[] =
	DECL "<ListBucketResult " S3NS ">\n"
	     "  <Name>bucket</Name>\n  <Prefix>dir/</Prefix>\n  <KeyCount>3</KeyCount>\n"
	     "  <MaxKeys>1000</MaxKeys>\n  <Delimiter>/</Delimiter>\n"
	     "  <IsTruncated>false</IsTruncated>\n"
	     "  <Contents>\n    <Key>dir/a.txt</Key>\n"
	     "    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
	     "    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>\n"
	     "    <Size>434234</Size>\n    <StorageClass>STANDARD</StorageClass>\n"
	     "  </Contents>\n"
	     "  <Contents><Key>dir/empty</Key><LastModified>2009-10-12T17:50:30Z</LastModified>"
	     "<ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag><Size>0</Size>"
	     "<Owner><ID>75aa</ID><DisplayName>me</DisplayName></Owner></Contents>\n"
	     "  <CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes>\n"
	     "  <CommonPrefixes><Prefix>dir/sub2/</Prefix></CommonPrefixes>\n"
	     "</ListBucketResult>\n";

static void test_list_aws(void **state)
{
	(void)state;
	struct store_page p;
	assert_int_equal(s3_xml_parse_list_v2(S(list_aws), &p), 0);
	assert_int_equal(p.n_objects, 2);
	assert_string_equal(p.objects[0].key, "dir/a.txt");
	assert_int_equal(p.objects[0].size, 434234);
	assert_int_equal(p.objects[0].last_modified, T_2009);
	assert_string_equal(p.objects[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
	assert_string_equal(p.objects[1].key, "dir/empty");
	assert_int_equal(p.objects[1].size, 0);
	assert_int_equal(p.objects[1].last_modified, T_2009);
	assert_int_equal(p.n_prefixes, 2);
	assert_string_equal(p.prefixes[0], "dir/sub/");
	assert_string_equal(p.prefixes[1], "dir/sub2/");
	assert_null(p.next_token);
	store_page_release(&p);
	assert_null(p.objects);
}

static void test_list_truncated_ceph(void **state)
{
	(void)state;
	/* Ceph RGW style, truncated, with a continuation token and a huge size. */
	static const char body[] =
		DECL "<ListBucketResult " S3NS "><Name>b</Name><Prefix></Prefix>"
		     "<MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated>"
		     "<Contents><Key>big</Key><LastModified>2023-08-20T11:04:49.119Z"
		     "</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef-1000&quot;"
		     "</ETag><Size>5497558138880</Size><StorageClass>STANDARD</StorageClass>"
		     "<Owner><ID>t</ID><DisplayName>t</DisplayName></Owner>"
		     "<Type>Normal</Type></Contents>"
		     "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
		     "</NextContinuationToken><KeyCount>1</KeyCount></ListBucketResult>";
	struct store_page p;
	assert_int_equal(s3_xml_parse_list_v2(S(body), &p), 0);
	assert_int_equal(p.n_objects, 1);
	assert_int_equal(p.objects[0].size, 5497558138880ULL);
	assert_int_equal(p.objects[0].last_modified, 1692529489);
	assert_int_equal(p.n_prefixes, 0);
	assert_null(p.prefixes);
	assert_non_null(p.next_token);
	/* The token is opaque: '/' '+' '=' stay as they are. */
	assert_string_equal(p.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	store_page_release(&p);
}

static void test_list_obs_ns(void **state)
{
	(void)state;
	static const char body[] =
		DECL "<ListBucketResult xmlns=\"http://obs.otc.t-systems.com/doc/2015-06-30/\">"
		     "<Name>b</Name><Prefix/><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
		     "<IsTruncated>false</IsTruncated><Contents><Key>test.txt</Key>"
		     "<LastModified>2023-08-20T11:04:49.119Z</LastModified>"
		     "<ETag>\"abc\"</ETag><Size>5</Size><Type>NORMAL</Type></Contents>"
		     "</ListBucketResult>";
	struct store_page p;
	assert_int_equal(s3_xml_parse_list_v2(S(body), &p), 0);
	assert_int_equal(p.n_objects, 1);
	assert_string_equal(p.objects[0].key, "test.txt");
	store_page_release(&p);
}

static void test_list_empty(void **state)
{
	(void)state;
	static const char body[] = DECL "<ListBucketResult " S3NS "><Name>b</Name>"
					"<Prefix>nothing/</Prefix><KeyCount>0</KeyCount>"
					"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
					"</ListBucketResult>";
	struct store_page p;
	assert_int_equal(s3_xml_parse_list_v2(S(body), &p), 0);
	assert_int_equal(p.n_objects, 0);
	assert_int_equal(p.n_prefixes, 0);
	assert_null(p.next_token);
	store_page_release(&p);
}

static void test_list_url_encoded(void **state)
{
	(void)state;
	/*
	 * encoding-type=url: a space arrives as '+', a real '+' as %2B, a
	 * control character as %XX. Prefix/Delimiter at the top are encoded
	 * too; the continuation token never is.
	 */
	static const char body[] =
		DECL "<ListBucketResult " S3NS "><Name>b</Name><Prefix>d%2F</Prefix>"
		     "<Delimiter>%2F</Delimiter><EncodingType>url</EncodingType>"
		     "<IsTruncated>true</IsTruncated>"
		     "<Contents><Key>d/a+b%2Bc</Key><LastModified>2009-10-12T17:50:30.000Z"
		     "</LastModified><Size>1</Size></Contents>"
		     "<Contents><Key>d/tab%09nl%0A%01</Key><LastModified>2009-10-12T17:50:30.000Z"
		     "</LastModified><Size>2</Size></Contents>"
		     "<Contents><Key>d/%C3%A9t%C3%A9%20%E2%82%AC</Key><LastModified>"
		     "2009-10-12T17:50:30.000Z</LastModified><Size>3</Size></Contents>"
		     "<CommonPrefixes><Prefix>d/sp%20ace%2F/</Prefix></CommonPrefixes>"
		     "<NextContinuationToken>a%2B+b</NextContinuationToken>"
		     "</ListBucketResult>";
	struct store_page p;
	assert_int_equal(s3_xml_parse_list_v2(S(body), &p), 0);
	assert_int_equal(p.n_objects, 3);
	assert_string_equal(p.objects[0].key, "d/a b+c");
	assert_string_equal(p.objects[1].key, "d/tab\tnl\n\x01");
	assert_string_equal(p.objects[2].key, "d/\xc3\xa9t\xc3\xa9 \xe2\x82\xac");
	assert_string_equal(p.objects[0].etag, "");
	assert_int_equal(p.n_prefixes, 1);
	assert_string_equal(p.prefixes[0], "d/sp ace//");
	assert_string_equal(p.next_token, "a%2B+b");
	store_page_release(&p);

	/* Without EncodingType the same text is taken literally. */
	static const char lit[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
				  "<Contents><Key>a+b%2B</Key><LastModified>"
				  "2009-10-12T17:50:30.000Z</LastModified><Size>1</Size>"
				  "</Contents></ListBucketResult>";
	assert_int_equal(s3_xml_parse_list_v2(S(lit), &p), 0);
	assert_string_equal(p.objects[0].key, "a+b%2B");
	store_page_release(&p);

	/* Broken escapes, an encoded NUL, an encoding we never asked for */
	static const char *const bad[] = {
		"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false"
		"</IsTruncated><Contents><Key>a%2</Key><LastModified>2009-10-12T17:50:30Z"
		"</LastModified><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false"
		"</IsTruncated><Contents><Key>a%zz</Key><LastModified>2009-10-12T17:50:30Z"
		"</LastModified><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false"
		"</IsTruncated><Contents><Key>a%00b</Key><LastModified>2009-10-12T17:50:30Z"
		"</LastModified><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><EncodingType>base64</EncodingType><IsTruncated>false"
		"</IsTruncated></ListBucketResult>",
		"<ListBucketResult><EncodingType>url</EncodingType><EncodingType>url"
		"</EncodingType><IsTruncated>false</IsTruncated></ListBucketResult>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_message("bad %zu\n", i);
		assert_int_equal(s3_xml_parse_list_v2(bad[i], strlen(bad[i]), &p), -EIO);
		assert_null(p.objects);
		assert_int_equal(p.n_objects, 0);
	}
}

static void test_list_unicode(void **state)
{
	(void)state;
	/* Raw UTF-8 keys, numeric character references and escaped markup */
	static const char body[] =
		"<ListBucketResult " S3NS "><IsTruncated>false</IsTruncated>"
		"<Contents><Key>\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80.txt</Key>"
		"<LastModified>2009-10-12T17:50:30.000Z</LastModified><Size>7</Size></Contents>"
		"<Contents><Key>a&amp;b&lt;c&gt;&quot;&apos;&#x9;&#233;</Key>"
		"<LastModified>2009-10-12T17:50:30.000Z</LastModified><Size>7</Size></Contents>"
		"<Contents><Key><![CDATA[cdata<&>]]></Key>"
		"<LastModified>2009-10-12T17:50:30.000Z</LastModified><Size>7</Size></Contents>"
		"</ListBucketResult>";
	struct store_page p;
	assert_int_equal(s3_xml_parse_list_v2(S(body), &p), 0);
	assert_int_equal(p.n_objects, 3);
	assert_string_equal(p.objects[0].key, "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80.txt");
	assert_string_equal(p.objects[1].key, "a&b<c>\"'\t\xc3\xa9");
	assert_string_equal(p.objects[2].key, "cdata<&>");
	store_page_release(&p);
}

static int list_one(const char *contents_inner, const char *tail)
{
	struct buf b;
	struct store_page p;
	buf_init(&b, 1 << 16);
	if (buf_addf(&b,
		     "<ListBucketResult " S3NS "><IsTruncated>false</IsTruncated>"
		     "<Contents>%s</Contents>%s</ListBucketResult>",
		     contents_inner, tail))
		return -ENOMEM;
	int ret = s3_xml_parse_list_v2(b.data, b.len, &p);
	if (ret) {
		assert_null(p.objects);
		assert_null(p.prefixes);
		assert_null(p.next_token);
		assert_int_equal(p.n_objects, 0);
	}
	store_page_release(&p);
	buf_release(&b);
	return ret;
}

#define LM "<LastModified>2009-10-12T17:50:30.000Z</LastModified>"

static void test_list_junk_numbers(void **state)
{
	(void)state;
	assert_int_equal(list_one("<Key>k</Key>" LM "<Size>12</Size>", ""), 0);
	assert_int_equal(list_one("<Key>k</Key>" LM "<Size>0009223372036854775807</Size>", ""), 0);
	static const char *const sizes[] = {
		"-1",
		"-0",
		"+5",
		" 5",
		"5 ",
		"",
		"5x",
		"0x10",
		"1e3",
		"9223372036854775808",
		"18446744073709551615",
		"18446744073709551616",
		"99999999999999999999999",
		"1.5",
		"\xd9\xa3", /* ARABIC-INDIC DIGIT THREE */
	};
	char inner[256];
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		int n = snprintf(inner, sizeof(inner), "<Key>k</Key>" LM "<Size>%s</Size>",
				 sizes[i]);
		assert_true(n > 0 && (size_t)n < sizeof(inner));
		print_message("size '%s'\n", sizes[i]);
		assert_int_equal(list_one(inner, ""), -EIO);
	}
}

static void test_list_bad_dates(void **state)
{
	(void)state;
	static const char *const good[] = {
		"2009-10-12T17:50:30.000Z",	  "2009-10-12T17:50:30Z",
		"2009-10-12T17:50:30.123456789Z", "2009-10-12T17:50:30+00:00",
		"2000-02-29T00:00:00Z",
	};
	static const char *const bad[] = {
		"2009-10-12",
		"2009-10-12T17:50:30",
		"2009-10-12T17:50:30.Z",
		"2009-10-12T17:50:30.000+01:00",
		"2009-13-12T17:50:30Z",
		"2009-00-12T17:50:30Z",
		"2009-02-29T17:50:30Z",
		"1900-02-29T00:00:00Z",
		"2009-10-32T17:50:30Z",
		"2009-10-12T24:00:00Z",
		"2009-10-12T17:60:30Z",
		"2009-10-12 17:50:30Z",
		"Mon, 12 Oct 2009 17:50:30 GMT",
		"",
		"2009-10-12T17:50:30.000Zjunk",
	};
	char inner[256];
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(inner, sizeof(inner),
			 "<Key>k</Key><Size>1</Size><LastModified>%s"
			 "</LastModified>",
			 good[i]);
		print_message("good date '%s'\n", good[i]);
		assert_int_equal(list_one(inner, ""), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(inner, sizeof(inner),
			 "<Key>k</Key><Size>1</Size><LastModified>%s"
			 "</LastModified>",
			 bad[i]);
		print_message("bad date '%s'\n", bad[i]);
		assert_int_equal(list_one(inner, ""), -EIO);
	}
}

static void test_list_missing_fields(void **state)
{
	(void)state;
	/* Each Contents needs Key, Size and LastModified; each only once. */
	assert_int_equal(list_one(LM "<Size>1</Size>", ""), -EIO);
	assert_int_equal(list_one("<Key>k</Key>" LM, ""), -EIO);
	assert_int_equal(list_one("<Key>k</Key><Size>1</Size>", ""), -EIO);
	assert_int_equal(list_one("<Key></Key>" LM "<Size>1</Size>", ""), -EIO);
	assert_int_equal(list_one("<Key>k</Key><Key>j</Key>" LM "<Size>1</Size>", ""), -EIO);
	assert_int_equal(list_one("<Key>k</Key>" LM "<Size>1</Size><Size>2</Size>", ""), -EIO);
	assert_int_equal(list_one("<Key>k</Key>" LM "<Size>1</Size><ETag></ETag>", ""), -EIO);
	/* An ETag too long to keep whole is refused, not cut. */
	char inner[512];
	char etag[120];
	memset(etag, 'a', sizeof(etag) - 1);
	etag[sizeof(etag) - 1] = '\0';
	snprintf(inner, sizeof(inner), "<Key>k</Key>" LM "<Size>1</Size><ETag>%s</ETag>", etag);
	assert_int_equal(list_one(inner, ""), -EIO);
	/* CommonPrefixes needs exactly one non-empty Prefix. */
	assert_int_equal(
		list_one("<Key>k</Key>" LM "<Size>1</Size>", "<CommonPrefixes></CommonPrefixes>"),
		-EIO);
	assert_int_equal(list_one("<Key>k</Key>" LM "<Size>1</Size>",
				  "<CommonPrefixes><Prefix></Prefix></CommonPrefixes>"),
			 -EIO);
	assert_int_equal(list_one("<Key>k</Key>" LM "<Size>1</Size>",
				  "<CommonPrefixes><Prefix>a/</Prefix><Prefix>b/</Prefix>"
				  "</CommonPrefixes>"),
			 -EIO);
	/* Unknown elements are fine, elements in another namespace are ignored. */
	assert_int_equal(list_one("<Key>k</Key>" LM "<Size>1</Size><Checksum>x</Checksum>"
				  "<x:Size xmlns:x=\"urn:other\">-1</x:Size>",
				  "<Future>1</Future>"),
			 0);
	/* A key longer than S3 allows */
	char *longkey = malloc(S3_XML_KEY_MAX + 64);
	assert_non_null(longkey);
	memset(longkey, 'k', S3_XML_KEY_MAX + 1);
	longkey[S3_XML_KEY_MAX + 1] = '\0';
	struct buf b;
	buf_init(&b, 1 << 16);
	assert_int_equal(buf_addf(&b, "<Key>%s</Key>" LM "<Size>1</Size>", longkey), 0);
	assert_int_equal(list_one(b.data, ""), -EIO);
	buf_release(&b);
	longkey[S3_XML_KEY_MAX] = '\0';
	buf_init(&b, 1 << 16);
	assert_int_equal(buf_addf(&b, "<Key>%s</Key>" LM "<Size>1</Size>", longkey), 0);
	assert_int_equal(list_one(b.data, ""), 0);
	buf_release(&b);
	free(longkey);
}

static void test_list_truncation_rules(void **state)
{
	(void)state;
	struct store_page p;
	/* IsTruncated is required, must be a boolean, once. */
	static const char *const bad[] = {
		"<ListBucketResult></ListBucketResult>",
		"<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><IsTruncated>true"
		"</IsTruncated></ListBucketResult>",
		/* truncated without a token, or with an empty one */
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
		"</NextContinuationToken></ListBucketResult>",
		/* a V1 reply (NextMarker) where V2 was asked for */
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextMarker>k</NextMarker>"
		"</ListBucketResult>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_message("bad %zu\n", i);
		assert_int_equal(s3_xml_parse_list_v2(bad[i], strlen(bad[i]), &p), -EIO);
		assert_null(p.next_token);
	}
	/* A token on the last page is not handed out. */
	static const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
				   "<NextContinuationToken>t</NextContinuationToken>"
				   "</ListBucketResult>";
	assert_int_equal(s3_xml_parse_list_v2(S(last), &p), 0);
	assert_null(p.next_token);
	store_page_release(&p);
}

static void test_list_failure_after_partial(void **state)
{
	(void)state;
	/* The second entry is broken: nothing of the first may survive. */
	static const char body[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
				   "<Contents><Key>good</Key>" LM "<Size>1</Size></Contents>"
				   "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"
				   "<Contents><Key>bad</Key>" LM "<Size>-1</Size></Contents>"
				   "</ListBucketResult>";
	struct store_page p;
	assert_int_equal(s3_xml_parse_list_v2(S(body), &p), -EIO);
	assert_null(p.objects);
	assert_null(p.prefixes);
	assert_int_equal(p.n_objects, 0);
	assert_int_equal(p.n_prefixes, 0);
}

/* ---- hostile documents ------------------------------------------------ */

static void test_wrong_root_namespace(void **state)
{
	(void)state;
	struct store_page p;
	struct s3_error_info e;
	static const char v1root[] = "<ListVersionsResult " S3NS "><IsTruncated>false"
				     "</IsTruncated></ListVersionsResult>";
	assert_int_equal(s3_xml_parse_list_v2(S(v1root), &p), -EIO);
	static const char *const bad_ns[] = {
		"<ListBucketResult xmlns=\"http://evil.example/doc/2006-03-01/\">"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01\">"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult xmlns=\"http://obs.evil/x/doc/2015-06-30/\">"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult xmlns=\"http://obs./doc/2015-06-30/\">"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<s:ListBucketResult xmlns:s=\"urn:x\"><s:IsTruncated>false</s:IsTruncated>"
		"</s:ListBucketResult>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad_ns); i++) {
		print_message("ns %zu\n", i);
		assert_int_equal(s3_xml_parse_list_v2(bad_ns[i], strlen(bad_ns[i]), &p), -EIO);
	}
	/* A prefixed S3 namespace is the same namespace. */
	static const char pfx[] = "<s:ListBucketResult xmlns:s=\"http://s3.amazonaws.com/doc/"
				  "2006-03-01/\"><s:IsTruncated>false</s:IsTruncated>"
				  "</s:ListBucketResult>";
	assert_int_equal(s3_xml_parse_list_v2(S(pfx), &p), 0);
	store_page_release(&p);
	/* Children must be in the root's namespace: here IsTruncated is not. */
	static const char mixed[] = "<ListBucketResult " S3NS "><IsTruncated xmlns=\"\">false"
				    "</IsTruncated></ListBucketResult>";
	assert_int_equal(s3_xml_parse_list_v2(S(mixed), &p), -EIO);
	static const char err_bad_ns[] = "<Error xmlns=\"urn:evil\"><Code>NoSuchKey</Code></Error>";
	assert_int_equal(s3_xml_parse_error(S(err_bad_ns), &e), -EIO);
}

static void test_truncated_documents(void **state)
{
	(void)state;
	/* Every proper prefix of a valid reply is refused. */
	size_t len = sizeof(list_aws) - 1;
	struct store_page p;
	size_t end = len;
	while (end > 0 && (list_aws[end - 1] == '\n' || list_aws[end - 1] == ' '))
		end--;
	for (size_t cut = 0; cut < end; cut++) {
		int ret = s3_xml_parse_list_v2(list_aws, cut, &p);
		if (ret != -EIO)
			print_message("cut at %zu: %d\n", cut, ret);
		assert_int_equal(ret, -EIO);
		assert_null(p.objects);
	}
	assert_int_equal(s3_xml_parse_list_v2(list_aws, end, &p), 0);
	store_page_release(&p);
	/* Trailing junk after the root */
	struct buf b;
	buf_init(&b, 1 << 16);
	assert_int_equal(buf_add(&b, list_aws, len), 0);
	assert_int_equal(buf_adds(&b, "<more/>"), 0);
	assert_int_equal(s3_xml_parse_list_v2(b.data, b.len, &p), -EIO);
	buf_release(&b);
	/* An embedded NUL */
	static const char nul[] = "<ListBucketResult><IsTruncated>false\0</IsTruncated>"
				  "</ListBucketResult>";
	assert_int_equal(s3_xml_parse_list_v2(S(nul), &p), -EIO);
}

static void test_oversized(void **state)
{
	(void)state;
	struct store_page p;
	struct s3_error_info e;
	size_t len = S3_XML_MAX_BODY + 1;
	char *big = malloc(len);
	assert_non_null(big);
	/*
	 * A valid document padded with unknown elements: refused by size
	 * alone. (Elements, not one huge text node, which libxml2 refuses
	 * by itself.)
	 */
	static const char head[] = "<ListBucketResult><IsTruncated>false</IsTruncated>";
	static const char tail[] = "</ListBucketResult>";
	memset(big, ' ', len);
	memcpy(big, head, sizeof(head) - 1);
	for (size_t off = sizeof(head); off + 4096 < len - sizeof(tail); off += 4096) {
		memcpy(big + off, "<P>", 3);
		memcpy(big + off + 4092, "</P>", 4);
	}
	memcpy(big + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	assert_int_equal(s3_xml_parse_list_v2(big, len, &p), -E2BIG);
	assert_int_equal(s3_xml_parse_error(big, len, &e), -E2BIG);
	/* Within the cap, but millions of tiny elements: refused before building a tree. */
	for (size_t off = sizeof(head) - 1; off + 4 < len - sizeof(tail); off += 4)
		memcpy(big + off, "<a/>", 4);
	assert_int_equal(s3_xml_parse_list_v2(big, len - 1 - (sizeof(tail) - 1), &p), -E2BIG);
	/* Deep nesting is refused by libxml2's own depth limit. */
	memset(big, ' ', len);
	memcpy(big, head, sizeof(head) - 1);
	for (size_t i = 0; i < 5000; i++) {
		memcpy(big + sizeof(head) - 1 + 3 * i, "<a>", 3);
		memcpy(big + sizeof(head) - 1 + 3 * 5000 + 4 * i, "</a>", 4);
	}
	memcpy(big + sizeof(head) - 1 + 7 * 5000, tail, sizeof(tail) - 1);
	assert_int_equal(
		s3_xml_parse_list_v2(big, sizeof(head) - 1 + 7 * 5000 + sizeof(tail) - 1, &p),
		-EIO);
	/* Rebuild the padded document: one byte under the cap parses. */
	memset(big, ' ', len);
	memcpy(big, head, sizeof(head) - 1);
	for (size_t off = sizeof(head); off + 4096 < len - sizeof(tail); off += 4096) {
		memcpy(big + off, "<P>", 3);
		memcpy(big + off + 4092, "</P>", 4);
	}
	memcpy(big + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	/* One byte less is within the cap and parses. */
	memmove(big + len - sizeof(tail), big + len - (sizeof(tail) - 1), sizeof(tail) - 1);
	assert_int_equal(s3_xml_parse_list_v2(big, len - 1, &p), 0);
	store_page_release(&p);
	free(big);
}

static void test_entity_bomb(void **state)
{
	(void)state;
	static const char bomb[] =
		DECL "<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
		     " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		     " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		     " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		     " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		     " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		     " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		     " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		     " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		     " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		     "]>\n<Error><Code>&lol9;</Code></Error>";
	struct s3_error_info e;
	struct store_page p;
	assert_int_equal(s3_xml_parse_error(S(bomb), &e), -EIO);
	assert_string_equal(e.code, "");
	assert_int_equal(s3_xml_parse_list_v2(S(bomb), &p), -EIO);
	/* A DOCTYPE of any kind, even harmless, is a surprise. */
	static const char dt[] = "<!DOCTYPE Error><Error><Code>A</Code></Error>";
	assert_int_equal(s3_xml_parse_error(S(dt), &e), -EIO);
	/* An entity reference without a declaration is not well-formed. */
	static const char undecl[] = "<Error><Code>&lol9;</Code></Error>";
	assert_int_equal(s3_xml_parse_error(S(undecl), &e), -EIO);
}

static void test_xxe(void **state)
{
	(void)state;
	static const char xxe[] =
		DECL "<!DOCTYPE foo [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
		     "<ListBucketResult " S3NS "><IsTruncated>false</IsTruncated>"
		     "<Contents><Key>&xxe;</Key>" LM "<Size>1</Size></Contents>"
		     "</ListBucketResult>";
	static const char xxe_err[] =
		"<!DOCTYPE Error SYSTEM \"http://127.0.0.1:1/evil.dtd\">"
		"<Error><Code>NoSuchKey</Code><Message>&xxe;</Message></Error>";
	static const char xxe_pe[] = "<!DOCTYPE Error [ <!ENTITY % p SYSTEM \"file:///etc/passwd\">"
				     " %p; ]><Error><Code>A</Code></Error>";
	struct store_page p;
	struct s3_error_info e;
	assert_int_equal(s3_xml_parse_list_v2(S(xxe), &p), -EIO);
	assert_null(p.objects);
	assert_int_equal(s3_xml_parse_error(S(xxe_err), &e), -EIO);
	assert_null(strstr(e.message, "root:"));
	assert_int_equal(s3_xml_parse_error(S(xxe_pe), &e), -EIO);
	/* XInclude is not processed either: the include element is just unknown. */
	static const char xi[] = "<ListBucketResult xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
				 "<IsTruncated>false</IsTruncated><Contents><Key>k</Key>" LM
				 "<Size>1</Size><xi:include href=\"file:///etc/passwd\" "
				 "parse=\"text\"/></Contents></ListBucketResult>";
	assert_int_equal(s3_xml_parse_list_v2(S(xi), &p), 0);
	assert_int_equal(p.n_objects, 1);
	assert_string_equal(p.objects[0].key, "k");
	store_page_release(&p);
}

static void test_encodings(void **state)
{
	(void)state;
	struct s3_error_info e;
	/* UTF-16 (with BOM) never reaches the parser; a UTF-8 BOM is fine. */
	static const char u16[] = "\xff\xfe<\0E\0r\0r\0o\0r\0>\0";
	assert_int_equal(s3_xml_parse_error(S(u16), &e), -EIO);
	static const char bom[] = "\xef\xbb\xbf<Error><Code>A</Code></Error>";
	assert_int_equal(s3_xml_parse_error(S(bom), &e), 0);
	assert_string_equal(e.code, "A");
	/* Invalid UTF-8 is not well-formed, whatever the declaration says. */
	static const char latin1[] = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
				     "<Error><Code>A\xe9</Code></Error>";
	assert_int_equal(s3_xml_parse_error(S(latin1), &e), -EIO);
	static const char badutf[] = "<Error><Code>A\xc3</Code></Error>";
	assert_int_equal(s3_xml_parse_error(S(badutf), &e), -EIO);
}

/* ---- multipart, copy, delete ------------------------------------------ */

static void test_initiate(void **state)
{
	(void)state;
	static const char body[] =
		DECL "<InitiateMultipartUploadResult " S3NS "><Bucket>b</Bucket>"
		     "<Key>big.bin</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRz"
		     "</UploadId></InitiateMultipartUploadResult>";
	char *id = (char *)"sentinel";
	assert_int_equal(s3_xml_parse_initiate_mpu(S(body), &id), 0);
	assert_string_equal(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRz");
	free(id);

	static const char *const bad[] = {
		"<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>",
		"<InitiateMultipartUploadResult><UploadId></UploadId>"
		"</InitiateMultipartUploadResult>",
		"<InitiateMultipartUploadResult><UploadId>a</UploadId><UploadId>b</UploadId>"
		"</InitiateMultipartUploadResult>",
		"<Error><Code>AccessDenied</Code></Error>",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		id = (char *)"sentinel";
		assert_int_equal(s3_xml_parse_initiate_mpu(bad[i], strlen(bad[i]), &id), -EIO);
		assert_null(id);
	}
}

static void test_copy_result(void **state)
{
	(void)state;
	static const char obj[] = DECL "<CopyObjectResult " S3NS "><LastModified>"
				       "2009-10-12T17:50:30.000Z</LastModified><ETag>"
				       "&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
				       "</CopyObjectResult>";
	static const char part[] = DECL "<CopyPartResult><LastModified>2009-10-12T17:50:30.000Z"
					"</LastModified><ETag>\"b\"</ETag></CopyPartResult>";
	/* AWS sends blanks while a long copy runs, then the result or an Error. */
	static const char in200[] =
		"        \n\n" DECL "<Error><Code>SlowDown</Code><Message>Please reduce"
		"</Message><RequestId>RID</RequestId></Error>";
	struct s3_xml_copy_result r;
	struct s3_error_info e;
	memset(&e, 0, sizeof(e));
	assert_int_equal(s3_xml_parse_copy_result(S(obj), &r, &e), 0);
	assert_string_equal(r.etag, "\"9b2cf535f27731c974343645a3985328\"");
	assert_int_equal(r.last_modified, T_2009);
	assert_string_equal(e.code, "");
	assert_int_equal(s3_xml_parse_copy_result(S(part), &r, NULL), 0);
	assert_string_equal(r.etag, "\"b\"");
	assert_int_equal(s3_xml_parse_copy_result(S(in200), &r, &e), -EIO);
	assert_string_equal(e.code, "SlowDown");
	assert_string_equal(e.request_id, "RID");
	assert_string_equal(r.etag, "");
	assert_int_equal(s3_xml_parse_copy_result(S(in200), &r, NULL), -EIO);
	/* Blanks only: the copy never finished. */
	assert_int_equal(s3_xml_parse_copy_result(S("      "), &r, &e), -EIO);
	static const char noetag[] = "<CopyObjectResult><LastModified>2009-10-12T17:50:30.000Z"
				     "</LastModified></CopyObjectResult>";
	assert_int_equal(s3_xml_parse_copy_result(S(noetag), &r, NULL), -EIO);
}

static void test_complete(void **state)
{
	(void)state;
	static const char ok[] =
		DECL "<CompleteMultipartUploadResult " S3NS ">"
		     "<Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket>"
		     "<Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
		     "</CompleteMultipartUploadResult>";
	static const char err[] = DECL "\n<Error><Code>InternalError</Code><Message>We "
				       "encountered an internal error. Please try again.</Message>"
				       "<RequestId>656c76696e6727732072657175657374</RequestId>"
				       "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTa"
				       "OFg==</HostId></Error>";
	char etag[STORE_ETAG_MAX];
	struct s3_error_info e;
	assert_int_equal(s3_xml_parse_complete_mpu(S(ok), etag, &e), 0);
	assert_string_equal(etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
	assert_int_equal(s3_xml_parse_complete_mpu(S(err), etag, &e), -EIO);
	assert_string_equal(e.code, "InternalError");
	assert_string_equal(e.request_id, "656c76696e6727732072657175657374");
	assert_string_equal(etag, "");
	static const char wrong[] = "<InitiateMultipartUploadResult><UploadId>x</UploadId>"
				    "</InitiateMultipartUploadResult>";
	memset(&e, 0, sizeof(e));
	assert_int_equal(s3_xml_parse_complete_mpu(S(wrong), etag, &e), -EIO);
	assert_string_equal(e.code, "");
	static const char noetag[] = "<CompleteMultipartUploadResult><Key>k</Key>"
				     "</CompleteMultipartUploadResult>";
	assert_int_equal(s3_xml_parse_complete_mpu(S(noetag), etag, NULL), -EIO);
}

static void test_delete_result(void **state)
{
	(void)state;
	static const char body[] =
		DECL "<DeleteResult " S3NS ">"
		     "<Deleted><Key>sample1.txt</Key></Deleted>"
		     "<Error><Key>sample2.txt</Key><Code>AccessDenied</Code>"
		     "<Message>Access Denied</Message></Error>"
		     "<Deleted><Key>sample3.txt</Key><DeleteMarker>true</DeleteMarker>"
		     "</Deleted>"
		     "<Error><Key>sample4.txt</Key><Code>InternalError</Code>"
		     "<Message>x</Message></Error></DeleteResult>";
	struct s3_xml_delete_result r;
	assert_int_equal(s3_xml_parse_delete_result(S(body), &r), 0);
	assert_int_equal(r.n_deleted, 2);
	assert_int_equal(r.n_errors, 2);
	assert_string_equal(r.first_error_key, "sample2.txt");
	assert_string_equal(r.first_error_code, "AccessDenied");
	assert_string_equal(r.first_error_message, "Access Denied");

	static const char quiet[] = DECL "<DeleteResult " S3NS "></DeleteResult>";
	assert_int_equal(s3_xml_parse_delete_result(S(quiet), &r), 0);
	assert_int_equal(r.n_deleted, 0);
	assert_int_equal(r.n_errors, 0);

	static const char nocode[] = "<DeleteResult><Error><Key>a</Key></Error></DeleteResult>";
	assert_int_equal(s3_xml_parse_delete_result(S(nocode), &r), -EIO);
	assert_int_equal(r.n_errors, 0);
	static const char whole[] = "<Error><Code>MalformedXML</Code></Error>";
	assert_int_equal(s3_xml_parse_delete_result(S(whole), &r), -EIO);
}

static void test_list_uploads(void **state)
{
	(void)state;
	static const char body[] =
		DECL "<ListMultipartUploadsResult " S3NS "><Bucket>b</Bucket>"
		     "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>"
		     "<NextKeyMarker>my+movie%2B.m2ts</NextKeyMarker>"
		     "<NextUploadIdMarker>YW55IGlkZWEgd2h5</NextUploadIdMarker>"
		     "<EncodingType>url</EncodingType>"
		     "<MaxUploads>3</MaxUploads><IsTruncated>true</IsTruncated>"
		     "<Upload><Key>my%20divisor</Key><UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW"
		     "</UploadId><Initiator><ID>arn</ID></Initiator><StorageClass>STANDARD"
		     "</StorageClass><Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>"
		     "<Upload><Key>my+movie.m2ts</Key><UploadId>VXBsb2FkIElEIGZvciBlbHZpbmcn"
		     "</UploadId><Initiated>2010-11-10T20:48:33Z</Initiated></Upload>"
		     "</ListMultipartUploadsResult>";
	struct s3_xml_uploads u;
	assert_int_equal(s3_xml_parse_list_uploads(S(body), &u), 0);
	assert_int_equal(u.n, 2);
	assert_true(u.truncated);
	assert_string_equal(u.uploads[0].key, "my divisor");
	assert_string_equal(u.uploads[0].upload_id, "XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW");
	assert_int_equal(u.uploads[0].initiated, 1289422113);
	assert_string_equal(u.uploads[1].key, "my movie.m2ts");
	assert_string_equal(u.next_key_marker, "my movie+.m2ts");
	assert_string_equal(u.next_upload_id_marker, "YW55IGlkZWEgd2h5");
	s3_xml_uploads_release(&u);
	assert_null(u.uploads);
	s3_xml_uploads_release(NULL);

	static const char last[] = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
				   "<NextKeyMarker>k</NextKeyMarker>"
				   "</ListMultipartUploadsResult>";
	assert_int_equal(s3_xml_parse_list_uploads(S(last), &u), 0);
	assert_int_equal(u.n, 0);
	assert_false(u.truncated);
	assert_null(u.next_key_marker);
	s3_xml_uploads_release(&u);

	static const char *const bad[] = {
		"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		"</ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult></ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated><Upload><Key>k</Key>"
		"<UploadId>u</UploadId></Upload></ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated><Upload><Key>k</Key>"
		"<UploadId></UploadId><Initiated>2010-11-10T20:48:33Z</Initiated></Upload>"
		"</ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated><Upload><Key>k</Key>"
		"<UploadId>u</UploadId><Initiated>yesterday</Initiated></Upload>"
		"</ListMultipartUploadsResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_message("bad %zu\n", i);
		assert_int_equal(s3_xml_parse_list_uploads(bad[i], strlen(bad[i]), &u), -EIO);
		assert_null(u.uploads);
		assert_null(u.next_key_marker);
	}
}

/* ---- builders --------------------------------------------------------- */

static void test_escape(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(s3_xml_escape("a&b<c>d\"e'f\tg\nh\ri\xc3\xa9\x7f", &b), 0);
	assert_string_equal(buf_str(&b),
			    "a&amp;b&lt;c&gt;d&quot;e&apos;f&#x9;g&#xA;h&#xD;i\xc3\xa9\x7f");
	buf_reset(&b);
	assert_int_equal(s3_xml_escape("", &b), 0);
	assert_string_equal(buf_str(&b), "");
	/* XML 1.0 cannot carry these at all, not even as &#xN; */
	static const char *const bad[] = {
		"a\x01",	"\x1f",		"a\x0b",
		"\xc3",		"\xc0\xaf",	"\xed\xa0\x80",
		"\xef\xbf\xbe", "\xef\xbf\xbf", "\xf4\x90\x80\x80",
		"\xff",		"\xe2\x82",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&b);
		assert_int_equal(s3_xml_escape(bad[i], &b), -EINVAL);
		assert_int_equal(b.len, 0);
	}
	/* A 4-byte character is fine. */
	buf_reset(&b);
	assert_int_equal(s3_xml_escape("\xf0\x9f\x98\x80", &b), 0);
	assert_string_equal(buf_str(&b), "\xf0\x9f\x98\x80");
	buf_release(&b);

	/* The cap still holds. */
	buf_init(&b, 8);
	assert_int_equal(s3_xml_escape("&&&", &b), -E2BIG);
	buf_release(&b);
}

/* Parse a body we built, to prove it is well-formed and says what we meant. */
static xmlDoc *reparse(const struct buf *b)
{
	return xmlReadMemory(b->data, (int)b->len, NULL, "UTF-8", XML_PARSE_NONET);
}

static void test_build_complete(void **state)
{
	(void)state;
	struct store_part parts[3] = {
		{ .number = 1, .etag = "\"a54357aff0632cce46d942af68356b38\"" },
		{ .number = 2, .etag = "\"0c78aef83f66abc1fa1e8477f296d394\"" },
		{ .number = 5, .etag = "\"acbd18db4cc2f85cedef654fccc4a4d8\"" },
	};
	struct buf b;
	buf_init(&b, 1 << 16);
	assert_int_equal(s3_xml_build_complete_mpu(parts, 3, &b), 0);
	assert_string_equal(buf_str(&b),
			    "<CompleteMultipartUpload>"
			    "<Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af"
			    "68356b38&quot;</ETag></Part>"
			    "<Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477"
			    "f296d394&quot;</ETag></Part>"
			    "<Part><PartNumber>5</PartNumber><ETag>&quot;acbd18db4cc2f85cedef654f"
			    "ccc4a4d8&quot;</ETag></Part>"
			    "</CompleteMultipartUpload>");
	xmlDoc *d = reparse(&b);
	assert_non_null(d);
	xmlFreeDoc(d);

	buf_reset(&b);
	assert_int_equal(s3_xml_build_complete_mpu(parts, 0, &b), -EINVAL);
	struct store_part swapped[2] = { parts[1], parts[0] };
	assert_int_equal(s3_xml_build_complete_mpu(swapped, 2, &b), -EINVAL);
	struct store_part dup[2] = { parts[0], parts[0] };
	assert_int_equal(s3_xml_build_complete_mpu(dup, 2, &b), -EINVAL);
	struct store_part zero = { .number = 0, .etag = "\"x\"" };
	assert_int_equal(s3_xml_build_complete_mpu(&zero, 1, &b), -EINVAL);
	struct store_part over = { .number = 10001, .etag = "\"x\"" };
	assert_int_equal(s3_xml_build_complete_mpu(&over, 1, &b), -EINVAL);
	struct store_part noetag = { .number = 1, .etag = "" };
	assert_int_equal(s3_xml_build_complete_mpu(&noetag, 1, &b), -EINVAL);
	assert_int_equal(b.len, 0);

	/* Part checksums: all of them, or none when one is unknown. */
	struct store_part ck[2] = {
		{ .number = 1, .etag = "\"a\"", .has_crc32c = true, .crc32c = 0xE3069283u },
		{ .number = 2, .etag = "\"b\"", .has_crc32c = true, .crc32c = 0x00000001u },
	};
	assert_int_equal(s3_xml_build_complete_mpu(ck, 2, &b), 0);
	assert_string_equal(buf_str(&b),
			    "<CompleteMultipartUpload>"
			    "<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag>"
			    "<ChecksumCRC32C>4waSgw==</ChecksumCRC32C></Part>"
			    "<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag>"
			    "<ChecksumCRC32C>AAAAAQ==</ChecksumCRC32C></Part>"
			    "</CompleteMultipartUpload>");
	buf_reset(&b);
	ck[1].has_crc32c = false;
	assert_int_equal(s3_xml_build_complete_mpu(ck, 2, &b), 0);
	assert_null(strstr(buf_str(&b), "Checksum"));
	buf_release(&b);

	/* Too small a cap: -E2BIG, and the buffer is released. */
	buf_init(&b, 40);
	assert_int_equal(s3_xml_build_complete_mpu(parts, 3, &b), -E2BIG);
	assert_null(b.data);
	buf_release(&b);
}

static void test_build_delete(void **state)
{
	(void)state;
	const char *keys[] = { "a/b.txt", "x&y<z>", "tab\there", "\xc3\xa9t\xc3\xa9" };
	struct buf b;
	buf_init(&b, 1 << 16);
	assert_int_equal(s3_xml_build_delete(keys, 4, true, &b), 0);
	assert_string_equal(buf_str(&b), "<Delete><Quiet>true</Quiet>"
					 "<Object><Key>a/b.txt</Key></Object>"
					 "<Object><Key>x&amp;y&lt;z&gt;</Key></Object>"
					 "<Object><Key>tab&#x9;here</Key></Object>"
					 "<Object><Key>\xc3\xa9t\xc3\xa9</Key></Object>"
					 "</Delete>");
	/* Round trip: the parser gives the keys back byte for byte. */
	xmlDoc *d = reparse(&b);
	assert_non_null(d);
	xmlNode *root = xmlDocGetRootElement(d);
	size_t i = 0;
	for (xmlNode *o = root->children; o; o = o->next) {
		if (!xmlStrEqual(o->name, (const xmlChar *)"Object"))
			continue;
		xmlChar *k = xmlNodeGetContent(o->children);
		assert_string_equal((const char *)k, keys[i++]);
		xmlFree(k);
	}
	assert_int_equal(i, 4);
	xmlFreeDoc(d);

	buf_reset(&b);
	assert_int_equal(s3_xml_build_delete(keys, 1, false, &b), 0);
	assert_string_equal(buf_str(&b), "<Delete><Object><Key>a/b.txt</Key></Object></Delete>");

	/* A key XML cannot carry, an empty key, no keys: nothing is written. */
	buf_reset(&b);
	const char *bad1[] = { "ok", "bell\x07" };
	assert_int_equal(s3_xml_build_delete(bad1, 2, true, &b), -EINVAL);
	const char *bad2[] = { "" };
	assert_int_equal(s3_xml_build_delete(bad2, 1, true, &b), -EINVAL);
	assert_int_equal(s3_xml_build_delete(keys, 0, true, &b), -EINVAL);
	assert_int_equal(s3_xml_build_delete(keys, 1001, true, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

/* ---- GetBucketEncryption ------------------------------------------------ */

#define SSE_CONF(rules)                                           \
	DECL "<ServerSideEncryptionConfiguration " S3NS ">" rules \
	     "</ServerSideEncryptionConfiguration>"
#define SSE_RULE(inner)                                    \
	"<Rule><ApplyServerSideEncryptionByDefault>" inner \
	"</ApplyServerSideEncryptionByDefault></Rule>"

static void test_bucket_encryption(void **state)
{
	(void)state;
	struct store_enc e;
	/* Ceph RGW 20's answer, as recorded */
	static const char ceph[] = SSE_CONF(SSE_RULE("<SSEAlgorithm>aws:kms</SSEAlgorithm>"
						     "<KMSMasterKeyID>testkey-1</KMSMasterKeyID>"));
	assert_int_equal(s3_xml_parse_bucket_encryption(S(ceph), &e), 0);
	assert_int_equal(e.mode, STORE_SSE_KMS);
	assert_string_equal(e.kms_key_id, "testkey-1");
	/* AWS: an ARN, a BucketKeyEnabled beside the default */
	static const char aws[] =
		SSE_CONF("<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms"
			 "</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:us-east-1:111122223333:key/"
			 "1234abcd-12ab-34cd-56ef-1234567890ab</KMSMasterKeyID>"
			 "</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true"
			 "</BucketKeyEnabled></Rule>");
	assert_int_equal(s3_xml_parse_bucket_encryption(S(aws), &e), 0);
	assert_int_equal(e.mode, STORE_SSE_KMS);
	assert_non_null(strstr(e.kms_key_id, "key/1234abcd"));
	/* the default KMS key, and SSE-S3 */
	static const char kms[] = SSE_CONF(SSE_RULE("<SSEAlgorithm>aws:kms</SSEAlgorithm>"));
	assert_int_equal(s3_xml_parse_bucket_encryption(S(kms), &e), 0);
	assert_int_equal(e.mode, STORE_SSE_KMS);
	assert_string_equal(e.kms_key_id, "");
	static const char s3[] = SSE_CONF(SSE_RULE("<SSEAlgorithm>AES256</SSEAlgorithm>"));
	assert_int_equal(s3_xml_parse_bucket_encryption(S(s3), &e), 0);
	assert_int_equal(e.mode, STORE_SSE_S3);

	static const char *const bad[] = {
		SSE_CONF(""),
		SSE_CONF("<Rule></Rule>"),
		SSE_CONF(SSE_RULE("<SSEAlgorithm>rot13</SSEAlgorithm>")),
		SSE_CONF(SSE_RULE("")),
		SSE_CONF(SSE_RULE("<SSEAlgorithm>aws:kms</SSEAlgorithm>"
				  "<SSEAlgorithm>AES256</SSEAlgorithm>")),
		SSE_CONF(SSE_RULE("<SSEAlgorithm>AES256</SSEAlgorithm>"
				  "<KMSMasterKeyID>k</KMSMasterKeyID>")),
		/* two rules that disagree */
		SSE_CONF(SSE_RULE("<SSEAlgorithm>AES256</SSEAlgorithm>")
				 SSE_RULE("<SSEAlgorithm>aws:kms</SSEAlgorithm>")),
		/* a key id longer than we keep: never truncated */
		SSE_CONF(SSE_RULE("<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>"
				  "0123456789012345678901234567890123456789012345678901234567890"
				  "1234567890123456789012345678901234567890</KMSMasterKeyID>")),
		"<Error><Code>AccessDenied</Code></Error>",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_message("bad %zu\n", i);
		e.mode = STORE_SSE_C;
		assert_int_equal(s3_xml_parse_bucket_encryption(bad[i], strlen(bad[i]), &e), -EIO);
		assert_int_equal(e.mode, STORE_SSE_NONE);
	}
}

int main(void)
{
	xmlInitParser();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_aws),
		cmocka_unit_test(test_error_ceph_obs),
		cmocka_unit_test(test_error_truncation),
		cmocka_unit_test(test_error_not_error),
		cmocka_unit_test(test_list_aws),
		cmocka_unit_test(test_list_truncated_ceph),
		cmocka_unit_test(test_list_obs_ns),
		cmocka_unit_test(test_list_empty),
		cmocka_unit_test(test_list_url_encoded),
		cmocka_unit_test(test_list_unicode),
		cmocka_unit_test(test_list_junk_numbers),
		cmocka_unit_test(test_list_bad_dates),
		cmocka_unit_test(test_list_missing_fields),
		cmocka_unit_test(test_list_truncation_rules),
		cmocka_unit_test(test_list_failure_after_partial),
		cmocka_unit_test(test_wrong_root_namespace),
		cmocka_unit_test(test_truncated_documents),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_entity_bomb),
		cmocka_unit_test(test_xxe),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_initiate),
		cmocka_unit_test(test_bucket_encryption),
		cmocka_unit_test(test_copy_result),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_delete_result),
		cmocka_unit_test(test_list_uploads),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_build_complete),
		cmocka_unit_test(test_build_delete),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return ret;
}
