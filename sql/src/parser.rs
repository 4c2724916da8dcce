//! Splitting a script into statements and parsing them: sqlparser for standard SQL, plus a
//! token pre-pass for the Flink syntax sqlparser lacks (`WATERMARK FOR`, `SET 'k' = 'v'`,
//! the table arguments `TABLE t [PARTITION BY k]` of window table functions).
//! Tokens keep their script locations, so errors point at the spot in the script.

use datafusion_sql::sqlparser::ast::Statement;
use datafusion_sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};
use regex::Regex;
use std::sync::LazyLock;

use crate::error::{Position, SqlError, SqlResult};
use crate::nesting::{MAX_NESTING, check_nesting, flatten_deep_expressions};
use crate::temporal::rewrite_system_time;

/// The dialect rill parses with.
pub fn dialect() -> &'static dyn Dialect {
    static DIALECT: GenericDialect = GenericDialect {};
    &DIALECT
}

/// The words of `text` (identifiers and keywords, unquoted and in lower case), or `None`
/// when it does not tokenize.
pub fn words(text: &str) -> Option<std::collections::HashSet<String>> {
    Some(words_in_order(text)?.into_iter().collect())
}

/// The words of `text` as [`words`] gives them, in order.
pub fn words_in_order(text: &str) -> Option<Vec<String>> {
    let tokens = Tokenizer::new(dialect(), text).tokenize().ok()?;
    let words = tokens.into_iter().filter_map(|token| match token {
        Token::Word(word) => Some(word.value.to_lowercase()),
        _ => None,
    });
    Some(words.collect())
}

/// One statement of a script, tokenized but not yet parsed.
#[derive(Debug, Clone)]
pub struct RawStatement {
    tokens: Vec<TokenWithSpan>,
    /// The statement's text as written.
    pub text: String,
    /// The line the statement starts on.
    pub line: u64,
}

/// `WATERMARK FOR column AS expression` of a `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct WatermarkClause {
    pub column: String,
    /// The expression's text.
    pub expr: String,
    /// Where the clause is, for errors.
    pub position: Option<Position>,
}

/// A computed column of `CREATE TABLE`: `name AS expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputedClause {
    pub name: String,
    /// The expression's text.
    pub expr: String,
    /// Its place among the table's columns.
    pub index: usize,
    /// Where it is, for errors.
    pub position: Option<Position>,
}

/// A metadata column of `CREATE TABLE`: `name TYPE METADATA [FROM 'key'] [VIRTUAL]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataClause {
    pub name: String,
    /// The metadata key (the column's name when no `FROM` is given).
    pub key: String,
    /// Read-only: left out of the rows a sink is given.
    pub is_virtual: bool,
    /// Where it is, for errors.
    pub position: Option<Position>,
}

/// A parsed statement.
#[derive(Debug, Clone)]
pub enum StatementKind {
    /// A statement sqlparser understands.
    Sql(Box<Statement>),
    /// `CREATE TABLE`, with Flink's `WATERMARK` clause and computed columns cut out of the
    /// column list.
    CreateTable {
        statement: Box<Statement>,
        watermark: Option<WatermarkClause>,
        computed: Vec<ComputedClause>,
        metadata: Vec<MetadataClause>,
    },
    /// `SET 'key' = 'value'`, or `SET` alone to list the options.
    Set(Option<(String, String)>),
    /// `RESET 'key'`, or `RESET` alone for all.
    Reset(Option<String>),
}

/// A parsed statement with its source text.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    pub kind: StatementKind,
    pub text: String,
    pub line: u64,
}

/// Splits `script` into statements at `;` (outside quotes and comments).
pub fn split_script(script: &str) -> SqlResult<Vec<RawStatement>> {
    let tokens = Tokenizer::new(dialect(), script)
        .tokenize_with_location()
        .map_err(|e| SqlError::at(e.message, Position::at(e.location, 1)))?;
    let lines = LineIndex::new(script);
    let mut statements = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    let mut flush = |current: &mut Vec<TokenWithSpan>| {
        let significant: Vec<TokenWithSpan> = std::mem::take(current)
            .into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        if let (Some(first), Some(last)) = (significant.first(), significant.last()) {
            let text = lines
                .slice(script, first.span.start, last.span.end)
                .to_string();
            statements.push(RawStatement {
                line: first.span.start.line,
                tokens: significant,
                text,
            });
        }
    };
    for token in tokens {
        match token.token {
            Token::SemiColon => flush(&mut current),
            Token::EOF => {}
            _ => current.push(token),
        }
    }
    flush(&mut current);
    Ok(statements)
}

/// Whether `input` holds at least one whole statement ending in `;` (for the shell: more
/// lines are read until it does). Unterminated quotes or comments are incomplete.
pub fn is_complete(input: &str) -> bool {
    match Tokenizer::new(dialect(), input).tokenize() {
        Ok(tokens) => tokens
            .iter()
            .rev()
            .find(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
            .is_none_or(|t| *t == Token::SemiColon),
        Err(_) => false,
    }
}

/// Splits and parses a whole script.
pub fn parse_script(script: &str) -> SqlResult<Vec<ParsedStatement>> {
    split_script(script)?
        .iter()
        .map(RawStatement::parse)
        .collect()
}

impl RawStatement {
    /// Parses the statement.
    pub fn parse(&self) -> SqlResult<ParsedStatement> {
        let kind = self.parse_kind()?;
        Ok(ParsedStatement {
            kind,
            text: self.text.clone(),
            line: self.line,
        })
    }

    fn parse_kind(&self) -> SqlResult<StatementKind> {
        let tokens = &rewrite_types(&self.tokens);
        if is_keyword(tokens.first(), Keyword::SET) || is_keyword(tokens.first(), Keyword::RESET) {
            return parse_set(tokens);
        }
        if is_keyword(tokens.first(), Keyword::CREATE) {
            refuse_unsupported_create(tokens)?;
            let (tokens, watermark) = cut_watermark(tokens, &self.text)?;
            let (tokens, computed, metadata) = if creates_table(&tokens) {
                let (tokens, computed) = cut_computed(&tokens, &self.text)?;
                let (tokens, metadata) = cut_metadata(&tokens)?;
                (quote_constraint_words(tokens), computed, metadata)
            } else {
                (tokens, vec![], vec![])
            };
            let tokens = rewrite_match_recognize(&tokens, &self.text)?;
            let tokens = rewrite_system_time(&tokens)?;
            let tokens = crate::functions::json::rewrite_json_syntax(&tokens);
            let tokens = crate::flink::mark_symmetric_between(&tokens);
            let tokens = crate::flink::rewrite_constructors(&tokens);
            let statement = parse_tokens(rewrite_table_arguments(&tokens)?)?;
            if matches!(statement, Statement::CreateTable(_)) {
                return Ok(StatementKind::CreateTable {
                    statement: Box::new(statement),
                    watermark,
                    computed,
                    metadata,
                });
            }
            return Ok(StatementKind::Sql(Box::new(statement)));
        }
        let tokens = rewrite_match_recognize(tokens, &self.text)?;
        let tokens = rewrite_system_time(&tokens)?;
        let tokens = rewrite_table_arguments(&tokens)?;
        let tokens = crate::functions::json::rewrite_json_syntax(&tokens);
        let tokens = crate::flink::mark_symmetric_between(&tokens);
        let tokens = crate::flink::rewrite_constructors(&tokens);
        // A Flink construct rill does not have is the likelier cause of a parse error.
        let statement = parse_tokens(tokens.clone())
            .map_err(|e| crate::functions::catalog::missing_in_tokens(&tokens).unwrap_or(e))?;
        Ok(StatementKind::Sql(Box::new(statement)))
    }
}

/// The name of the function argument that carries a table argument's `PARTITION BY` keys.
pub const PARTITION_BY_ARGUMENT: &str = "PARTITION_BY";

/// Rewrites table arguments of table functions, which sqlparser cannot parse, into
/// expressions it can: `f(TABLE t PARTITION BY k, ...)` becomes
/// `f((SELECT * FROM t), ..., PARTITION_BY(k))`. The subquery keeps `t` visible to name
/// resolution; the new tokens carry the location of the `TABLE` keyword for errors.
fn rewrite_table_arguments(tokens: &[TokenWithSpan]) -> SqlResult<Vec<TokenWithSpan>> {
    let is_table_argument = |i: usize| {
        is_keyword(tokens.get(i), Keyword::TABLE)
            && i >= 2
            && matches!(
                tokens[i - 1].token,
                Token::LParen | Token::Comma | Token::RArrow
            )
            && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Word(_)))
    };
    if !(0..tokens.len()).any(is_table_argument) {
        return Ok(tokens.to_vec());
    }
    let mut out = Vec::with_capacity(tokens.len() + 8);
    // PARTITION BY keys waiting for the end of the enclosing call, with its depth.
    let mut pending: Vec<(usize, Vec<TokenWithSpan>)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if !is_table_argument(i) {
            match token.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    if let Some((_, keys)) = pending.pop_if(|(d, _)| *d == depth) {
                        out.extend(keys);
                    }
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
            out.push(token.clone());
            i += 1;
            continue;
        }
        let span = token.span;
        let at = |t: Token| TokenWithSpan::new(t, span);
        // `TABLE a.b.c` -> `(SELECT * FROM a.b.c)`
        out.extend([
            at(Token::LParen),
            at(Token::make_keyword("SELECT")),
            at(Token::Mul),
            at(Token::make_keyword("FROM")),
        ]);
        // The name: a word, then `.word` repeated.
        out.push(tokens[i + 1].clone());
        i += 2;
        while let (
            Some(
                dot @ TokenWithSpan {
                    token: Token::Period,
                    ..
                },
            ),
            Some(word),
        ) = (tokens.get(i), tokens.get(i + 1))
        {
            if !matches!(word.token, Token::Word(_)) {
                break;
            }
            out.extend([dot.clone(), word.clone()]);
            i += 2;
        }
        out.push(at(Token::RParen));
        if is_keyword(tokens.get(i), Keyword::PARTITION)
            && is_keyword(tokens.get(i + 1), Keyword::BY)
        {
            let keyword = tokens[i].span;
            i += 2;
            // The keys run to the next ',' or ')' of the call: `k`, `a, b` only in parentheses.
            let start = i;
            let mut nested = 0usize;
            while let Some(t) = tokens.get(i) {
                match t.token {
                    Token::LParen => nested += 1,
                    Token::RParen if nested == 0 => break,
                    Token::RParen => nested -= 1,
                    Token::Comma if nested == 0 => break,
                    _ => {}
                }
                i += 1;
            }
            if start == i {
                return Err(SqlError::at(
                    "expected the PARTITION BY columns",
                    Position::spanning(keyword.start, keyword.end),
                ));
            }
            let mut keys = vec![
                TokenWithSpan::new(Token::Comma, keyword),
                TokenWithSpan::new(Token::make_word(PARTITION_BY_ARGUMENT, None), keyword),
            ];
            let parenthesized =
                tokens[start].token == Token::LParen && tokens[i - 1].token == Token::RParen;
            if !parenthesized {
                keys.push(TokenWithSpan::new(Token::LParen, keyword));
            }
            keys.extend_from_slice(&tokens[start..i]);
            if !parenthesized {
                keys.push(TokenWithSpan::new(Token::RParen, keyword));
            }
            pending.push((depth, keys));
        }
    }
    Ok(out)
}

/// The `DEFINE` symbol that carries a `MATCH_RECOGNIZE`'s pattern text as a string.
pub const PATTERN_SYMBOL: &str = "__rill_pattern";
/// The `DEFINE` symbol that carries `WITHIN`'s interval.
pub const WITHIN_SYMBOL: &str = "__rill_within";
/// The `DEFINE` symbol whose presence says `WITHIN ... WITH TIMEOUTS`.
pub const TIMEOUTS_SYMBOL: &str = "__rill_timeouts";
/// The `DEFINE` symbol that carries one `SUBSET u = (a, b)` as the call `u(a, b)`.
pub const SUBSET_SYMBOL: &str = "__rill_subset";
/// The function that wraps a navigation written with `FINAL`.
pub const FINAL_FUNCTION: &str = "rill_final";

/// Rewrites the parts of `MATCH_RECOGNIZE` that sqlparser cannot read into ones it can,
/// keeping their locations. The pattern (rill reads the full SQL:2016 syntax itself), `WITHIN`
/// (and rill's `WITH TIMEOUTS` after it) and `SUBSET` move into extra `DEFINE` entries
/// (`__rill_pattern AS 'A B+'`, ...);
/// `SKIP TO v` becomes `SKIP TO LAST v`; `FINAL f(..)` becomes `rill_final(f(..))` and
/// `RUNNING`, the default, goes.
fn rewrite_match_recognize(tokens: &[TokenWithSpan], text: &str) -> SqlResult<Vec<TokenWithSpan>> {
    let word = |i: usize, name: &str| {
        matches!(tokens.get(i), Some(TokenWithSpan { token: Token::Word(w), .. })
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(name))
    };
    let is_call = |i: usize| {
        matches!(tokens.get(i).map(|t| &t.token), Some(Token::Word(_)))
            && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::LParen))
    };
    if !(0..tokens.len()).any(|i| word(i, "MATCH_RECOGNIZE")) {
        return Ok(tokens.to_vec());
    }
    // The index of the `)` closing the `(` at `open`.
    let closing = |open: usize| {
        let mut depth = 0usize;
        for (i, t) in tokens.iter().enumerate().skip(open) {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    };
    let lines = LineIndex::new(text);
    let base = tokens[0].span.start;
    let mut out = Vec::with_capacity(tokens.len() + 8);
    // Closing parentheses owed to `rill_final(`, by the depth they close at.
    let mut finals: Vec<usize> = Vec::new();
    // The `MATCH_RECOGNIZE (` being rewritten: its depth, its extra DEFINE entries, and
    // whether it has a DEFINE.
    let mut clause: Option<(usize, Vec<Vec<TokenWithSpan>>, bool)> = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let at = |t: Token| TokenWithSpan::new(t, token.span);
        let top = clause.as_ref().is_some_and(|(d, _, _)| *d + 1 == depth);
        match &token.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                if finals.last() == Some(&depth) {
                    finals.pop();
                    out.push(token.clone());
                    out.push(at(Token::RParen));
                    depth -= 1;
                    i += 1;
                    continue;
                }
                if let Some((_, extra, has_define)) = clause.take_if(|(d, _, _)| *d + 1 == depth) {
                    for (n, entry) in extra.into_iter().enumerate() {
                        out.push(at(if n == 0 && !has_define {
                            Token::make_keyword("DEFINE")
                        } else {
                            Token::Comma
                        }));
                        out.extend(entry);
                    }
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        if clause.is_none() && word(i, "MATCH_RECOGNIZE") {
            clause = Some((depth, Vec::new(), false));
        } else if top
            && word(i, "PATTERN")
            && tokens.get(i + 1).map(|t| &t.token) == Some(&Token::LParen)
        {
            let open = &tokens[i + 1];
            let close_at = closing(i + 1)
                .ok_or_else(|| SqlError::at("PATTERN's '(' is not closed", position_of(open)))?;
            let close = &tokens[close_at];
            let pattern = lines.slice(
                text,
                relative(open.span.end, base),
                relative(close.span.start, base),
            );
            let span =
                datafusion_sql::sqlparser::tokenizer::Span::new(open.span.end, close.span.start);
            out.extend([
                token.clone(),
                open.clone(),
                TokenWithSpan::new(Token::make_word(PATTERN_SYMBOL, None), span),
                close.clone(),
            ]);
            let (_, extra, _) = clause.as_mut().expect("inside MATCH_RECOGNIZE");
            extra.push(vec![
                TokenWithSpan::new(Token::make_word(PATTERN_SYMBOL, None), span),
                TokenWithSpan::new(Token::make_keyword("AS"), span),
                TokenWithSpan::new(Token::SingleQuotedString(pattern.to_string()), span),
            ]);
            i = close_at + 1;
            continue;
        } else if top && (word(i, "WITHIN") || word(i, "SUBSET")) {
            // The clause runs to the next clause keyword (or the end of MATCH_RECOGNIZE).
            let mut end = i + 1;
            let mut nested = 0usize;
            while let Some(t) = tokens.get(end) {
                match t.token {
                    Token::LParen => nested += 1,
                    Token::RParen if nested == 0 => break,
                    Token::RParen => nested -= 1,
                    _ if nested == 0 && (word(end, "SUBSET") || word(end, "DEFINE")) => break,
                    _ => {}
                }
                end += 1;
            }
            let mut body = &tokens[i + 1..end];
            let (_, extra, _) = clause.as_mut().expect("inside MATCH_RECOGNIZE");
            if word(i, "WITHIN") {
                if end >= i + 3 && word(end - 2, "WITH") && word(end - 1, "TIMEOUTS") {
                    body = &tokens[i + 1..end - 2];
                    let at = |t: Token| TokenWithSpan::new(t, tokens[end - 1].span);
                    extra.push(vec![
                        at(Token::make_word(TIMEOUTS_SYMBOL, None)),
                        at(Token::make_keyword("AS")),
                        at(Token::make_keyword("TRUE")),
                    ]);
                }
                let mut entry = vec![
                    at(Token::make_word(WITHIN_SYMBOL, None)),
                    at(Token::make_keyword("AS")),
                ];
                entry.extend_from_slice(body);
                extra.push(entry);
            } else {
                // `u = (a, b), v = (c)` -> `u(a, b)`, `v(c)`, one entry each.
                let mut k = 0;
                while k < body.len() {
                    let malformed = || {
                        SqlError::at(
                            "expected SUBSET name = (variable, ...)",
                            position_of(&body[k]),
                        )
                    };
                    let (Token::Word(_), Some(Token::Eq), Some(Token::LParen)) = (
                        &body[k].token,
                        body.get(k + 1).map(|t| &t.token),
                        body.get(k + 2).map(|t| &t.token),
                    ) else {
                        return Err(malformed());
                    };
                    let close = body[k + 2..]
                        .iter()
                        .position(|t| t.token == Token::RParen)
                        .map(|p| k + 2 + p)
                        .ok_or_else(malformed)?;
                    let mut entry = vec![
                        TokenWithSpan::new(Token::make_word(SUBSET_SYMBOL, None), body[k].span),
                        TokenWithSpan::new(Token::make_keyword("AS"), body[k].span),
                        body[k].clone(),
                    ];
                    entry.extend_from_slice(&body[k + 2..=close]);
                    extra.push(entry);
                    k = close + 1;
                    if body.get(k).map(|t| &t.token) == Some(&Token::Comma) {
                        k += 1;
                    }
                }
            }
            i = end;
            continue;
        } else if top && word(i, "DEFINE") {
            if let Some((_, _, has_define)) = clause.as_mut() {
                *has_define = true;
            }
        } else if top
            && word(i, "SKIP")
            && word(i + 1, "TO")
            && !(word(i + 2, "FIRST") || word(i + 2, "LAST") || word(i + 2, "NEXT"))
        {
            out.extend([token.clone(), tokens[i + 1].clone()]);
            out.push(TokenWithSpan::new(
                Token::make_keyword("LAST"),
                tokens[i + 1].span,
            ));
            i += 2;
            continue;
        } else if clause.is_some() && (word(i, "FINAL") || word(i, "RUNNING")) && is_call(i + 1) {
            if word(i, "FINAL") {
                out.push(at(Token::make_word(FINAL_FUNCTION, None)));
                out.push(at(Token::LParen));
                // The call's own parenthesis opens one deeper; ours closes after it.
                finals.push(depth + 1);
            }
            i += 1;
            continue;
        }
        out.push(token.clone());
        i += 1;
    }
    Ok(out)
}

pub(crate) fn is_keyword(token: Option<&TokenWithSpan>, keyword: Keyword) -> bool {
    matches!(token, Some(TokenWithSpan { token: Token::Word(w), .. }) if w.keyword == keyword)
}

fn position_of(token: &TokenWithSpan) -> Option<Position> {
    Position::spanning(token.span.start, token.span.end)
}

/// Parses one statement and insists that nothing follows it.
fn parse_tokens(tokens: Vec<TokenWithSpan>) -> SqlResult<Statement> {
    check_nesting(&tokens)?;
    let last = tokens.last().cloned();
    // A level of nesting takes sqlparser a few steps of recursion; the levels themselves are
    // limited by `check_nesting`, with a clearer message.
    let mut parser = Parser::new(dialect())
        .with_recursion_limit(8 * MAX_NESTING)
        .with_tokens_with_locations(tokens);
    let mut statement = parser.parse_statement().map_err(|e| {
        // Errors at the end of input carry no location: point just past the last token.
        let end = last.as_ref().map(|t| t.span.end);
        parser_error(e).or_at(end.and_then(|l| Position::at(l, 1)))
    })?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(SqlError::at(
            format!("unexpected {} after the end of the statement", next.token),
            position_of(&next).or_else(|| last.as_ref().and_then(position_of)),
        )
        .with_hint("separate statements with ';'"));
    }
    flatten_deep_expressions(&mut statement)?;
    Ok(statement)
}

static LOCATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*at Line: (\d+), Column: (\d+)").expect("valid regex"));

/// A sqlparser error as a [`SqlError`]: its message without the location suffix, which
/// becomes the position.
fn parser_error(e: ParserError) -> SqlError {
    let text = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
        ParserError::RecursionLimitExceeded => "the statement is nested too deeply".into(),
    };
    let position = LOCATION
        .captures(&text)
        .and_then(|c| Position::at(Location::new(c[1].parse().ok()?, c[2].parse().ok()?), 1));
    let message = LOCATION.replace(&text, "").trim().to_string();
    let message = message
        .replace("Expected: ", "expected ")
        .replace(", found: ", ", found ");
    SqlError::at(message, position)
}

/// `SET 'key' = 'value'`, `SET`, `RESET 'key'`, `RESET`.
fn parse_set(tokens: &[TokenWithSpan]) -> SqlResult<StatementKind> {
    let reset = is_keyword(tokens.first(), Keyword::RESET);
    let rest: Vec<&Token> = tokens[1..].iter().map(|t| &t.token).collect();
    let usage = || {
        let word = if reset {
            "RESET 'key'"
        } else {
            "SET 'key' = 'value'"
        };
        SqlError::at(
            format!("expected {word}"),
            tokens.first().and_then(position_of),
        )
    };
    match (reset, rest.as_slice()) {
        (false, []) => Ok(StatementKind::Set(None)),
        (true, []) => Ok(StatementKind::Reset(None)),
        (true, [Token::SingleQuotedString(k)]) => Ok(StatementKind::Reset(Some(k.clone()))),
        (
            false,
            [
                Token::SingleQuotedString(k),
                Token::Eq,
                Token::SingleQuotedString(v),
            ],
        ) => Ok(StatementKind::Set(Some((k.clone(), v.clone())))),
        _ => Err(usage()),
    }
}

/// Cuts `WATERMARK FOR col AS expr` out of a `CREATE TABLE` column list.
fn cut_watermark(
    tokens: &[TokenWithSpan],
    text: &str,
) -> SqlResult<(Vec<TokenWithSpan>, Option<WatermarkClause>)> {
    let nesting = nesting(tokens);
    let mut depth = 0;
    let mut start = None;
    for (i, t) in tokens.iter().enumerate() {
        depth += nesting[i];
        match &t.token {
            Token::Word(w)
                if depth == 1
                    && w.value.eq_ignore_ascii_case("WATERMARK")
                    && is_keyword(tokens.get(i + 1), Keyword::FOR) =>
            {
                start = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(start) = start else {
        return Ok((tokens.to_vec(), None));
    };
    let (kept, clause) = cut_item(tokens, start);
    let position = position_of(&clause[0]);
    let malformed = || SqlError::at("expected WATERMARK FOR column AS expression", position);
    let column = match clause.get(2).map(|t| &t.token) {
        Some(Token::Word(w)) => w.value.clone(),
        _ => return Err(malformed()),
    };
    if !is_keyword(clause.get(3), Keyword::AS) || clause.len() < 5 {
        return Err(malformed());
    }
    let expr = text_of(&clause[4..], tokens, text);
    Ok((
        kept,
        Some(WatermarkClause {
            column,
            expr,
            position,
        }),
    ))
}

/// Quotes the column names of a `CREATE TABLE` column list that sqlparser would read as a
/// MySQL index (`KEY`, `INDEX`): Flink has no such constraint, and Nexmark q13's side input
/// has a `key` column.
fn quote_constraint_words(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let nesting = nesting(&tokens);
    let mut depth = 0;
    for i in 1..tokens.len() {
        depth += nesting[i];
        let column_start = depth == 1
            && matches!(tokens[i - 1].token, Token::LParen | Token::Comma)
            && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Word(_)));
        if let Token::Word(w) = &mut tokens[i].token
            && column_start
            && w.quote_style.is_none()
            && matches!(w.keyword, Keyword::KEY | Keyword::INDEX)
        {
            w.quote_style = Some('"');
            w.keyword = Keyword::NoKeyword;
        }
    }
    tokens
}

/// Cuts computed columns (`name AS expr`) out of a `CREATE TABLE` column list, noting where
/// each stands among the columns.
fn cut_computed(
    tokens: &[TokenWithSpan],
    text: &str,
) -> SqlResult<(Vec<TokenWithSpan>, Vec<ComputedClause>)> {
    let mut tokens = tokens.to_vec();
    let mut computed = Vec::new();
    loop {
        // The items of the column list: where each starts, and whether it is a column.
        let nesting = nesting(&tokens);
        let mut depth = 0;
        let mut columns = 0;
        let mut found = None;
        for i in 0..tokens.len() {
            depth += nesting[i];
            match &tokens[i].token {
                Token::Word(w)
                    if depth == 1
                        && matches!(tokens[i - 1].token, Token::LParen | Token::Comma) =>
                {
                    if is_keyword(tokens.get(i + 1), Keyword::AS) {
                        found = Some((i, columns, w.value.clone()));
                        break;
                    }
                    let constraint = ["PRIMARY", "CONSTRAINT", "UNIQUE", "WATERMARK"]
                        .iter()
                        .any(|c| w.value.eq_ignore_ascii_case(c));
                    columns += usize::from(!constraint);
                }
                _ => {}
            }
        }
        let Some((start, index, name)) = found else {
            return Ok((tokens, computed));
        };
        let (kept, clause) = cut_item(&tokens, start);
        let position = position_of(&clause[0]);
        if clause.len() < 3 {
            return Err(SqlError::at("expected column AS expression", position));
        }
        computed.push(ComputedClause {
            name,
            expr: text_of(&clause[2..], &tokens, text),
            index: index + computed.len(),
            position,
        });
        tokens = kept;
    }
}

/// Cuts `METADATA [FROM 'key'] [VIRTUAL]` out of the column definitions of `CREATE TABLE`
/// (sqlparser knows no such clause), leaving plain columns; returns what was cut.
fn cut_metadata(tokens: &[TokenWithSpan]) -> SqlResult<(Vec<TokenWithSpan>, Vec<MetadataClause>)> {
    let word = |t: Option<&TokenWithSpan>, name: &str| matches!(t.map(|t| &t.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case(name));
    let mut kept = Vec::with_capacity(tokens.len());
    let mut clauses = Vec::new();
    let nesting = nesting(tokens);
    let mut depth = 0;
    // The name of the column-list item being read.
    let mut column: Option<String> = None;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        depth += nesting[i];
        match &t.token {
            Token::Comma if depth == 1 => column = None,
            Token::Word(w)
                if depth == 1
                    && column.is_none()
                    && matches!(
                        kept.last().map(|t: &TokenWithSpan| &t.token),
                        Some(Token::LParen | Token::Comma)
                    ) =>
            {
                column = Some(w.value.clone());
            }
            Token::Word(_) if depth == 1 && word(Some(t), "METADATA") => {
                let position = position_of(t);
                let name = column.clone().ok_or_else(|| {
                    SqlError::at("METADATA must follow a column's name and type", position)
                })?;
                i += 1;
                let mut key = name.clone();
                if word(tokens.get(i), "FROM") {
                    match tokens.get(i + 1).map(|t| &t.token) {
                        Some(Token::SingleQuotedString(k)) => key = k.clone(),
                        _ => {
                            return Err(SqlError::at(
                                "expected the metadata key in quotes after METADATA FROM",
                                position_of(tokens.get(i + 1).unwrap_or(&tokens[i])),
                            ));
                        }
                    }
                    i += 2;
                }
                let is_virtual = word(tokens.get(i), "VIRTUAL");
                i += usize::from(is_virtual);
                clauses.push(MetadataClause {
                    name,
                    key,
                    is_virtual,
                    position,
                });
                continue;
            }
            _ => {}
        }
        kept.push(t.clone());
        i += 1;
    }
    Ok((kept, clauses))
}

/// The tokens without the column-list item starting at `start` (and one comma next to it),
/// and the item's tokens.
fn cut_item(tokens: &[TokenWithSpan], start: usize) -> (Vec<TokenWithSpan>, &[TokenWithSpan]) {
    // The item ends at the next ',' or ')' of the column list.
    let nesting = nesting(tokens);
    let mut depth = 0;
    let mut end = tokens.len();
    for (i, t) in tokens.iter().enumerate().skip(start) {
        depth += nesting[i];
        if depth < 0 || (depth == 0 && t.token == Token::Comma) {
            end = i;
            break;
        }
    }
    let mut kept: Vec<TokenWithSpan> = tokens[..start].to_vec();
    let mut rest = &tokens[end..];
    if matches!(rest.first().map(|t| &t.token), Some(Token::Comma)) {
        rest = &rest[1..];
    } else if matches!(kept.last().map(|t| &t.token), Some(Token::Comma)) {
        kept.pop();
    }
    kept.extend_from_slice(rest);
    (kept, &tokens[start..end])
}

/// Flink's row, map and multiset types in the forms sqlparser reads: `ROW<name type, ...>` as
/// `STRUCT<name type, ...>`, `MAP<K, V>` as `MAP(K, V)` (its generic dialect reads maps only
/// with parentheses), and `MULTISET<T>` as `MAP(T, MULTISET)` (which [`crate::types`] reads
/// back as a multiset). A `>>` that closes a map and another type is split in two.
fn rewrite_types(tokens: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    #[derive(Clone, Copy, PartialEq)]
    enum Open {
        Angle,
        Map,
        Multiset,
    }
    let mut out = Vec::with_capacity(tokens.len());
    // The kind of each open `<` of a type.
    let mut open: Vec<Open> = Vec::new();
    let close = |out: &mut Vec<TokenWithSpan>, kind: Open, span| {
        if kind == Open::Multiset {
            out.push(TokenWithSpan::new(Token::Comma, span));
            out.push(TokenWithSpan::new(Token::make_keyword("MULTISET"), span));
        }
        let token = if kind == Open::Angle {
            Token::Gt
        } else {
            Token::RParen
        };
        out.push(TokenWithSpan::new(token, span));
    };
    for (i, token) in tokens.iter().enumerate() {
        if opens_type(tokens, i) {
            let prev = out.last_mut().expect("a type name precedes its `<`");
            let kind = if is_keyword(Some(prev), Keyword::MAP) {
                Open::Map
            } else if is_keyword(Some(prev), Keyword::MULTISET) {
                prev.token = Token::make_keyword("MAP");
                Open::Multiset
            } else {
                if is_keyword(Some(prev), Keyword::ROW) {
                    prev.token = Token::make_keyword("STRUCT");
                }
                Open::Angle
            };
            open.push(kind);
            let token = if kind == Open::Angle {
                Token::Lt
            } else {
                Token::LParen
            };
            out.push(TokenWithSpan::new(token, tokens[i].span));
        } else if token.token == Token::Gt && !open.is_empty() {
            close(&mut out, open.pop().expect("open"), token.span);
        } else if token.token == Token::ShiftRight && open.len() >= 2 {
            let inner = open.pop().expect("open");
            let outer = open.pop().expect("open");
            if inner == Open::Angle && outer == Open::Angle {
                out.push(token.clone());
            } else {
                close(&mut out, inner, token.span);
                close(&mut out, outer, token.span);
            }
        } else {
            out.push(token.clone());
        }
    }
    out
}

/// Whether token `i` is the `<` of a row or collection type: it follows the type's name and
/// comes before a type name (`map < 5` is no type).
fn opens_type(tokens: &[TokenWithSpan], i: usize) -> bool {
    tokens[i].token == Token::Lt
        && i > 0
        && matches!(&tokens[i - 1].token, Token::Word(w)
            if matches!(w.keyword, Keyword::ROW | Keyword::STRUCT | Keyword::ARRAY | Keyword::MAP
                | Keyword::MULTISET))
        && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Word(_)))
}

/// How each token changes the nesting depth (after [`rewrite_types`]): parentheses, and the
/// angle brackets of the row and array types (`STRUCT<a INT, b STRING>`, `ARRAY<INT>`), whose
/// commas do not separate columns.
fn nesting(tokens: &[TokenWithSpan]) -> Vec<i32> {
    let mut angles = 0;
    (0..tokens.len())
        .map(|i| match tokens[i].token {
            Token::LParen => 1,
            Token::RParen => -1,
            Token::Lt if opens_type(tokens, i) => {
                angles += 1;
                1
            }
            Token::Gt if angles > 0 => {
                angles -= 1;
                -1
            }
            Token::ShiftRight if angles > 1 => {
                angles -= 2;
                -2
            }
            _ => 0,
        })
        .collect()
}

/// The text of `part`, tokens of the statement `all` whose text is `text`.
fn text_of(part: &[TokenWithSpan], all: &[TokenWithSpan], text: &str) -> String {
    let lines = LineIndex::new(text);
    let base = all[0].span.start;
    let (first, last) = (&part[0], &part[part.len() - 1]);
    lines
        .slice(
            text,
            relative(first.span.start, base),
            relative(last.span.end, base),
        )
        .to_string()
}

/// Whether the `CREATE` statement of `tokens` is `CREATE [TEMPORARY] TABLE`.
fn creates_table(tokens: &[TokenWithSpan]) -> bool {
    tokens
        .iter()
        .skip(1)
        .take(3)
        .find(|t| !matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case("TEMPORARY")))
        .is_some_and(|t| is_keyword(Some(t), Keyword::TABLE))
}

/// Refuses, with a caret, the parts of Flink's `CREATE` statements rill does not have yet
/// (sqlparser would report them as syntax errors): `CREATE FUNCTION` and `CREATE TABLE ...
/// LIKE`.
fn refuse_unsupported_create(tokens: &[TokenWithSpan]) -> SqlResult<()> {
    let word = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let refuse = |i: usize, what: &str| {
        Err(SqlError::at(
            format!("{what} is not supported yet"),
            position_of(&tokens[i]),
        ))
    };
    if let Some(i) = (1..tokens.len().min(4)).find(|&i| word(i).as_deref() == Some("FUNCTION")) {
        return refuse(i, "CREATE FUNCTION");
    }
    if !creates_table(tokens) {
        return Ok(());
    }
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w) if depth == 0 && w.keyword == Keyword::LIKE => {
                return refuse(i, "CREATE TABLE ... LIKE");
            }
            _ => {}
        }
    }
    Ok(())
}

/// `location` made relative to a text that starts at `base` in the script.
fn relative(location: Location, base: Location) -> Location {
    if location.line == base.line {
        Location::new(1, location.column - base.column + 1)
    } else {
        Location::new(location.line - base.line + 1, location.column)
    }
}

/// Byte offsets of line starts, to turn token locations (line, column in characters) into
/// slices of the text.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn offset(&self, text: &str, location: Location) -> usize {
        let Some(&line_start) = self.starts.get(location.line.saturating_sub(1) as usize) else {
            return text.len();
        };
        text[line_start..]
            .char_indices()
            .nth(location.column.saturating_sub(1) as usize)
            .map_or(text.len(), |(i, _)| line_start + i)
    }

    fn slice<'a>(&self, text: &'a str, start: Location, end: Location) -> &'a str {
        let (a, b) = (self.offset(text, start), self.offset(text, end));
        &text[a.min(b)..b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_outside_quotes_and_comments() {
        let script = "SET 'a' = 'b;c';\n-- a comment; with semicolon\nSELECT ';' AS x;\n\n  ;";
        let statements = split_script(script).unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].text, "SET 'a' = 'b;c'");
        assert_eq!(statements[1].text, "SELECT ';' AS x");
        assert_eq!(statements[1].line, 3);
    }

    #[test]
    fn row_types_keep_their_fields_out_of_the_column_list() {
        // The commas inside ROW<...> (and a nested one's `>>`) separate fields, not columns:
        // the computed column is the table's third.
        let script = "CREATE TABLE t (\n  a ROW<x INT, y ROW<p INT, q STRING>>,\n  \
                      b ROW<`dateTime` TIMESTAMP(3)>,\n  ts AS b.`dateTime`,\n  \
                      WATERMARK FOR ts AS ts\n) WITH ('connector' = 'blackhole')";
        let parsed = parse_script(script).unwrap();
        let StatementKind::CreateTable {
            statement,
            computed,
            watermark,
            ..
        } = &parsed[0].kind
        else {
            panic!("not a create table: {:?}", parsed[0].kind);
        };
        assert_eq!(computed.len(), 1);
        assert_eq!(
            (computed[0].index, computed[0].expr.as_str()),
            (2, "b.`dateTime`")
        );
        assert_eq!(watermark.as_ref().unwrap().expr, "ts");
        let Statement::CreateTable(create) = statement.as_ref() else {
            panic!("not a create table");
        };
        let types: Vec<String> = create
            .columns
            .iter()
            .map(|c| c.data_type.to_string())
            .collect();
        assert_eq!(
            types,
            [
                "STRUCT<x INT, y STRUCT<p INT, q STRING>>",
                "STRUCT<`dateTime` TIMESTAMP(3)>"
            ]
        );
    }

    #[test]
    fn map_and_multiset_types_take_the_forms_sqlparser_reads() {
        let script = "CREATE TABLE t (a MAP<STRING, ARRAY<INT>>, b MULTISET<ROW<x INT>>, \
                      c ARRAY<MULTISET<DECIMAL(10, 2)>>, d ARRAY<ARRAY<INT>>) \
                      WITH ('connector' = 'blackhole')";
        let parsed = parse_script(script).unwrap();
        let StatementKind::CreateTable { statement, .. } = &parsed[0].kind else {
            panic!("not a create table: {:?}", parsed[0].kind);
        };
        let Statement::CreateTable(create) = statement.as_ref() else {
            panic!("not a create table");
        };
        let types: Vec<String> = create
            .columns
            .iter()
            .map(|c| c.data_type.to_string())
            .collect();
        assert_eq!(
            types,
            [
                "Map(STRING, ARRAY<INT>)",
                "Map(STRUCT<x INT>, MULTISET)",
                "ARRAY<Map(DECIMAL(10,2), MULTISET)>",
                "ARRAY<ARRAY<INT>>"
            ]
        );
    }

    #[test]
    fn key_and_index_are_column_names() {
        let script = "CREATE TABLE t (key BIGINT, `value` STRING, index INT, KEY VARCHAR(3)) \
                      WITH ('connector' = 'blackhole')";
        let parsed = parse_script(script).unwrap();
        let StatementKind::CreateTable { statement, .. } = &parsed[0].kind else {
            panic!("not a create table: {:?}", parsed[0].kind);
        };
        let Statement::CreateTable(create) = statement.as_ref() else {
            panic!("not a create table");
        };
        let names: Vec<&str> = create
            .columns
            .iter()
            .map(|c| c.name.value.as_str())
            .collect();
        assert_eq!(names, ["key", "value", "index", "KEY"]);
    }

    #[test]
    fn cuts_the_watermark_clause() {
        let script = "CREATE TABLE t (\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND\n) WITH ('connector' = 'blackhole')";
        let parsed = parse_script(script).unwrap();
        let StatementKind::CreateTable { watermark, .. } = &parsed[0].kind else {
            panic!("not a create table: {:?}", parsed[0].kind);
        };
        let w = watermark.as_ref().unwrap();
        assert_eq!(w.column, "ts");
        assert_eq!(w.expr, "ts - INTERVAL '5' SECOND");
        assert_eq!(w.position.unwrap().line, 3);
    }

    #[test]
    fn parse_errors_point_at_the_spot() {
        let e = parse_script("SELECT a\nFROM t WHERE").unwrap_err();
        assert_eq!(e.position.unwrap().line, 2);
        let e = parse_script("SELECT 1 2").unwrap_err();
        assert!(e.message.contains("after the end of the statement"), "{e}");
    }

    #[test]
    fn table_arguments_become_subqueries() {
        let sql = "SELECT * FROM TABLE(SESSION(TABLE db.ticks PARTITION BY (a, b), DESCRIPTOR(ts), INTERVAL '3' SECOND))";
        let parsed = parse_script(sql).unwrap();
        let StatementKind::Sql(statement) = &parsed[0].kind else {
            panic!("not a query");
        };
        assert_eq!(
            statement.to_string(),
            "SELECT * FROM TABLE(SESSION((SELECT * FROM db.ticks), DESCRIPTOR(ts), INTERVAL '3' SECOND, PARTITION_BY(a, b)))"
        );
        let sql = "SELECT * FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) AS w";
        let parsed = parse_script(sql).unwrap();
        let StatementKind::Sql(statement) = &parsed[0].kind else {
            panic!("not a query");
        };
        assert_eq!(
            statement.to_string(),
            "SELECT * FROM TABLE(TUMBLE((SELECT * FROM t), DESCRIPTOR(ts), INTERVAL '1' MINUTE)) AS w"
        );
    }

    fn rewritten(sql: &str) -> String {
        let parsed = parse_script(sql).unwrap();
        let StatementKind::Sql(statement) = &parsed[0].kind else {
            panic!("not a query");
        };
        statement.to_string()
    }

    #[test]
    fn match_recognize_extensions_become_define_entries() {
        let sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts MEASURES FINAL LAST(A.x) AS l, \
                   RUNNING COUNT(*) AS n AFTER MATCH SKIP TO A PATTERN (A {- B -}+? $) \
                   WITHIN INTERVAL '1' MINUTE SUBSET U = (A, B), V = (B) DEFINE A AS A.x > 0)";
        assert_eq!(
            rewritten(sql),
            "SELECT * FROM t MATCH_RECOGNIZE(ORDER BY ts MEASURES rill_final(LAST(A.x)) AS l, \
             COUNT(*) AS n AFTER MATCH SKIP TO LAST A PATTERN (__rill_pattern) \
             DEFINE A AS A.x > 0, __rill_pattern AS 'A {- B -}+? $', \
             __rill_within AS INTERVAL '1' MINUTE, __rill_subset AS U(A, B), __rill_subset AS V(B))"
        );
        // Without DEFINE, the entries start one.
        let sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A B) DEFINE A AS true)";
        assert!(
            rewritten(sql)
                .ends_with("PATTERN (__rill_pattern) DEFINE A AS true, __rill_pattern AS 'A B')")
        );
    }

    #[test]
    fn completeness_for_the_shell() {
        assert!(is_complete("SELECT 1;"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(is_complete("SELECT 1; -- done"));
    }

    #[test]
    fn unsupported_create_forms_are_refused_where_they_are() {
        for (sql, message, column) in [
            (
                "CREATE TABLE t2 LIKE t",
                "CREATE TABLE ... LIKE is not supported yet",
                17,
            ),
            (
                "CREATE TEMPORARY FUNCTION f AS 'x.F'",
                "CREATE FUNCTION is not supported yet",
                18,
            ),
        ] {
            let e = parse_script(sql).unwrap_err();
            assert_eq!(e.message, message, "{sql}");
            assert_eq!(e.position.unwrap().column, column, "{sql}");
        }
        // Neither WATERMARK FOR ts AS ... nor a view's `, X AS condition` is a computed column.
        let view = "CREATE VIEW v AS SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts \
                    MEASURES A.p AS p PATTERN (A B) DEFINE A AS A.p > 0, B AS B.p < 0)";
        let StatementKind::Sql(statement) = &parse_script(view).unwrap()[0].kind else {
            panic!("a view")
        };
        assert!(
            statement.to_string().contains("B AS B.p < 0"),
            "{statement}"
        );
        assert!(
            parse_script(
                "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'blackhole')"
            )
            .is_ok()
        );
    }

    #[test]
    fn metadata_columns_are_cut_out_of_the_column_list() {
        let parsed = parse_script(
            "CREATE TABLE t (a INT, p INT METADATA FROM 'partition' VIRTUAL, \
             ts TIMESTAMP_LTZ(3) METADATA, b STRING) WITH ('connector' = 'kafka')",
        )
        .unwrap();
        let StatementKind::CreateTable {
            statement,
            metadata,
            ..
        } = &parsed[0].kind
        else {
            panic!("not a CREATE TABLE");
        };
        let names: Vec<(&str, &str, bool)> = metadata
            .iter()
            .map(|m| (m.name.as_str(), m.key.as_str(), m.is_virtual))
            .collect();
        assert_eq!(names, vec![("p", "partition", true), ("ts", "ts", false)]);
        let Statement::CreateTable(create) = statement.as_ref() else {
            panic!("not a CREATE TABLE");
        };
        let columns: Vec<String> = create.columns.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            columns,
            vec!["a INT", "p INT", "ts TIMESTAMP_LTZ(3)", "b STRING"]
        );
        let e = parse_script("CREATE TABLE t (a INT METADATA FROM partition) WITH ()").unwrap_err();
        assert_eq!(
            e.message,
            "expected the metadata key in quotes after METADATA FROM"
        );
    }
}
