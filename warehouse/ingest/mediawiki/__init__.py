"""MediaWiki XML dumps: streaming their pages and turning wikitext into plain text."""
