import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import StrataAPI

/// The whole graph in one download: JSON (`{"nodes": [...], "edges": [...]}`) or GraphML for
/// Gephi, yEd, NetworkX. Streamed row by row, so large graphs do not sit in memory twice.
enum GraphExport {
    static func response(format: String, db: PostgresClient, logger: Logger) async throws -> Response {
        let nodes = try await db.query("""
            SELECT canonical_id, vertex_type, display_name, coalesce(project_id, ''), criticality_score, coalesce(pony_factor, -1)
              FROM atlas.vertices ORDER BY canonical_id
            """, logger: logger)
        var out = ByteBuffer()
        if format == "graphml" {
            out.writeString("""
                <?xml version="1.0" encoding="UTF-8"?>
                <graphml xmlns="http://graphml.graphdrawing.org/xmlns">
                <key id="type" for="node" attr.name="vertex_type" attr.type="string"/>
                <key id="name" for="node" attr.name="display_name" attr.type="string"/>
                <key id="project" for="node" attr.name="project_id" attr.type="string"/>
                <key id="criticality" for="node" attr.name="criticality_score" attr.type="int"/>
                <key id="pony" for="node" attr.name="pony_factor" attr.type="int"/>
                <key id="version" for="edge" attr.name="version_range" attr.type="string"/>
                <key id="confidence" for="edge" attr.name="confidence" attr.type="string"/>
                <graph id="atlas" edgedefault="directed">

                """)
            for try await (id, type, name, project, criticality, pony) in nodes.decode((String, String, String, String, Int, Int).self) {
                out.writeString("<node id=\"\(xml(id))\"><data key=\"type\">\(xml(type))</data><data key=\"name\">\(xml(name))</data>")
                if !project.isEmpty { out.writeString("<data key=\"project\">\(xml(project))</data>") }
                out.writeString("<data key=\"criticality\">\(criticality)</data>")
                if pony >= 0 { out.writeString("<data key=\"pony\">\(pony)</data>") }
                out.writeString("</node>\n")
            }
            var n = 0
            for try await (from, to, version, confidence) in try await db.query(
                "SELECT in_id, out_id, version_range, confidence FROM atlas.depends_on ORDER BY in_id, out_id, version_range", logger: logger
            ).decode((String, String, String, String).self) {
                n += 1
                out.writeString("<edge id=\"e\(n)\" source=\"\(xml(from))\" target=\"\(xml(to))\">")
                if !version.isEmpty { out.writeString("<data key=\"version\">\(xml(version))</data>") }
                out.writeString("<data key=\"confidence\">\(confidence)</data></edge>\n")
            }
            out.writeString("</graph>\n</graphml>\n")
            return Response(status: .ok, headers: [.contentType: "application/graphml+xml"], body: ResponseBody(byteBuffer: out))
        }
        out.writeString("{\"nodes\":[")
        var first = true
        for try await row in try await db.query("""
            SELECT json_build_object('id', canonical_id, 'vertex_type', vertex_type, 'display_name', display_name, 'project_id', project_id,
                                     'criticality_score', criticality_score, 'pony_factor', pony_factor)::text
              FROM atlas.vertices ORDER BY canonical_id
            """, logger: logger).decode(String.self)
        {
            if !first { out.writeString(",") }
            first = false
            out.writeString(row)
        }
        out.writeString("],\"edges\":[")
        first = true
        for try await row in try await db.query("""
            SELECT json_build_object('source', in_id, 'target', out_id, 'version_range', NULLIF(version_range, ''), 'confidence', confidence)::text
              FROM atlas.depends_on ORDER BY in_id, out_id, version_range
            """, logger: logger).decode(String.self)
        {
            if !first { out.writeString(",") }
            first = false
            out.writeString(row)
        }
        out.writeString("]}")
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: out))
    }

    static func xml(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
